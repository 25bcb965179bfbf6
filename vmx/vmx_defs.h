/* VMX architectural constants: VMCS field encodings (SDM 3C appendix B), control
 * bits (SDM 3C 25.6, 25.7, 25.8), capability-MSR layouts (SDM 3C appendix A),
 * exit reasons (SDM 3C appendix C), VM-instruction errors (SDM 3C 31.4) and the
 * formats of the exit-information fields (SDM 3C 28.2).
 *
 * Every Vol. 3C citation in the project follows the SDM's current numbering:
 * chapter 24 "Introduction to Virtual Machine Extensions", 25 "Virtual Machine
 * Control Structures", 26 "VMX Non-Root Operation", 27 "VM Entries", 28 "VM
 * Exits", 29 "VMX Support for Address Translation", 31 "VMX Instruction
 * Reference" (editions before 2023 number each of these one lower).
 *
 * Names follow KVM's arch/x86/include/asm/vmx.h where one exists, so they read
 * familiarly; the values come from the SDM. The file is also usable from
 * assembly (.S): plain integer literals only, C declarations under !__ASSEMBLER__.
 * It deliberately defines no CR0_*, CR4_*, EFER_* or MSR_IA32_FEATURE_CONTROL
 * names (core/arch.h owns those). */
#ifndef LAMINA_VMX_DEFS_H
#define LAMINA_VMX_DEFS_H

/* ------------------------------------------------------------------ MSRs */
/* VMX capability MSRs, SDM 3C appendix A. MSR_IA32_VMX_BASIC is also in core/arch.h. */
#ifndef MSR_IA32_VMX_BASIC
#define MSR_IA32_VMX_BASIC                0x480
#endif
#define MSR_IA32_VMX_PINBASED_CTLS        0x481
#define MSR_IA32_VMX_PROCBASED_CTLS       0x482
#define MSR_IA32_VMX_EXIT_CTLS            0x483
#define MSR_IA32_VMX_ENTRY_CTLS           0x484
#define MSR_IA32_VMX_MISC                 0x485
#define MSR_IA32_VMX_CR0_FIXED0           0x486
#define MSR_IA32_VMX_CR0_FIXED1           0x487
#define MSR_IA32_VMX_CR4_FIXED0           0x488
#define MSR_IA32_VMX_CR4_FIXED1           0x489
#define MSR_IA32_VMX_VMCS_ENUM            0x48a
#define MSR_IA32_VMX_PROCBASED_CTLS2      0x48b
#define MSR_IA32_VMX_EPT_VPID_CAP         0x48c
#define MSR_IA32_VMX_TRUE_PINBASED_CTLS   0x48d
#define MSR_IA32_VMX_TRUE_PROCBASED_CTLS  0x48e
#define MSR_IA32_VMX_TRUE_EXIT_CTLS       0x48f
#define MSR_IA32_VMX_TRUE_ENTRY_CTLS      0x490
#define MSR_IA32_VMX_VMFUNC               0x491
#define MSR_IA32_VMX_PROCBASED_CTLS3      0x492
#define MSR_IA32_VMX_LAST                 0x493           /* IA32_VMX_EXIT_CTLS2: end of the block */

/* IA32_VMX_BASIC, SDM 3C A.1 */
#define VMX_BASIC_REVISION_MASK           0x7fffffff
#define VMX_BASIC_VMCS_SIZE_SHIFT         32
#define VMX_BASIC_VMCS_SIZE_MASK          0x1fff          /* bits 44:32 */
#define VMX_BASIC_32BIT_PHYS_ADDR_ONLY    (1ull << 48)
#define VMX_BASIC_DUAL_MONITOR            (1ull << 49)
#define VMX_BASIC_MEM_TYPE_SHIFT          50
#define VMX_BASIC_MEM_TYPE_MASK           0xf             /* bits 53:50 */
#define VMX_BASIC_MEM_TYPE_UC             0
#define VMX_BASIC_MEM_TYPE_WB             6
#define VMX_BASIC_INOUT                   (1ull << 54)
#define VMX_BASIC_TRUE_CTLS               (1ull << 55)
#define VMX_BASIC_NO_HW_ERRCODE_CC        (1ull << 56)

/* IA32_VMX_MISC, SDM 3C A.6 */
#define VMX_MISC_PREEMPTION_TIMER_RATE_MASK 0x1f
#define VMX_MISC_SAVE_EFER_LMA            (1ull << 5)
#define VMX_MISC_ACTIVITY_HLT             (1ull << 6)
#define VMX_MISC_ACTIVITY_SHUTDOWN        (1ull << 7)
#define VMX_MISC_ACTIVITY_WAIT_SIPI       (1ull << 8)
#define VMX_MISC_INTEL_PT                 (1ull << 14)
#define VMX_MISC_RDMSR_SMBASE_IN_SMM      (1ull << 15)
#define VMX_MISC_CR3_TARGETS_SHIFT        16
#define VMX_MISC_CR3_TARGETS_MASK         0x1ff
#define VMX_MISC_MAX_MSR_LIST_SHIFT       25              /* 512 * (N + 1) entries */
#define VMX_MISC_MAX_MSR_LIST_MASK        0x7
#define VMX_MISC_VMWRITE_EXIT_INFO        (1ull << 29)
#define VMX_MISC_ZERO_LEN_INJECTION       (1ull << 30)

/* IA32_VMX_EPT_VPID_CAP, SDM 3C A.10 */
#define VMX_EPT_EXECUTE_ONLY_BIT          (1ull << 0)
#define VMX_EPT_PAGE_WALK_4_BIT           (1ull << 6)
#define VMX_EPT_PAGE_WALK_5_BIT           (1ull << 7)
#define VMX_EPTP_UC_BIT                   (1ull << 8)
#define VMX_EPTP_WB_BIT                   (1ull << 14)
#define VMX_EPT_2MB_PAGE_BIT              (1ull << 16)
#define VMX_EPT_1GB_PAGE_BIT              (1ull << 17)
#define VMX_EPT_INVEPT_BIT                (1ull << 20)
#define VMX_EPT_AD_BIT                    (1ull << 21)
#define VMX_EPT_ADV_EXIT_INFO_BIT         (1ull << 22)
#define VMX_EPT_SSS_BIT                   (1ull << 23)
#define VMX_EPT_EXTENT_CONTEXT_BIT        (1ull << 25)    /* single-context INVEPT */
#define VMX_EPT_EXTENT_GLOBAL_BIT         (1ull << 26)    /* all-context INVEPT */
#define VMX_VPID_INVVPID_BIT              (1ull << 32)
#define VMX_VPID_EXTENT_INDIVIDUAL_ADDR_BIT (1ull << 40)
#define VMX_VPID_EXTENT_SINGLE_CONTEXT_BIT  (1ull << 41)
#define VMX_VPID_EXTENT_GLOBAL_CONTEXT_BIT  (1ull << 42)
#define VMX_VPID_EXTENT_SINGLE_NON_GLOBAL_BIT (1ull << 43)
/* The INVEPT/INVVPID type operands are in vmx/vmcs.h (INVEPT_SINGLE_CONTEXT, ...). */

/* "Default1" controls: reported must-be-1 by the non-TRUE MSRs (SDM 3C A.2). */
#define PIN_BASED_DEFAULT1                0x00000016
#define CPU_BASED_DEFAULT1                0x0401e172
#define VM_EXIT_DEFAULT1                  0x00036dff
#define VM_ENTRY_DEFAULT1                 0x000011ff

/* ------------------------------------------------------ VM-execution controls */
/* Pin-based, SDM 3C 25.6.1 */
#define PIN_BASED_EXT_INTR_EXITING        0x00000001
#define PIN_BASED_NMI_EXITING             0x00000008
#define PIN_BASED_VIRTUAL_NMIS            0x00000020
#define PIN_BASED_VMX_PREEMPTION_TIMER    0x00000040
#define PIN_BASED_POSTED_INTR             0x00000080

/* Primary processor-based, SDM 3C 25.6.2 */
#define CPU_BASED_INTR_WINDOW_EXITING     0x00000004
#define CPU_BASED_USE_TSC_OFFSETTING      0x00000008
#define CPU_BASED_HLT_EXITING             0x00000080
#define CPU_BASED_INVLPG_EXITING          0x00000200
#define CPU_BASED_MWAIT_EXITING           0x00000400
#define CPU_BASED_RDPMC_EXITING           0x00000800
#define CPU_BASED_RDTSC_EXITING           0x00001000
#define CPU_BASED_CR3_LOAD_EXITING        0x00008000
#define CPU_BASED_CR3_STORE_EXITING       0x00010000
#define CPU_BASED_ACTIVATE_TERTIARY_CONTROLS 0x00020000
#define CPU_BASED_CR8_LOAD_EXITING        0x00080000
#define CPU_BASED_CR8_STORE_EXITING       0x00100000
#define CPU_BASED_TPR_SHADOW              0x00200000
#define CPU_BASED_NMI_WINDOW_EXITING      0x00400000
#define CPU_BASED_MOV_DR_EXITING          0x00800000
#define CPU_BASED_UNCOND_IO_EXITING       0x01000000
#define CPU_BASED_USE_IO_BITMAPS          0x02000000
#define CPU_BASED_MONITOR_TRAP_FLAG       0x08000000
#define CPU_BASED_USE_MSR_BITMAPS         0x10000000
#define CPU_BASED_MONITOR_EXITING         0x20000000
#define CPU_BASED_PAUSE_EXITING           0x40000000
#define CPU_BASED_ACTIVATE_SECONDARY_CONTROLS 0x80000000

/* Secondary processor-based, SDM 3C 25.6.2 */
#define SECONDARY_EXEC_VIRTUALIZE_APIC_ACCESSES 0x00000001
#define SECONDARY_EXEC_ENABLE_EPT         0x00000002
#define SECONDARY_EXEC_DESC               0x00000004      /* descriptor-table exiting */
#define SECONDARY_EXEC_ENABLE_RDTSCP      0x00000008
#define SECONDARY_EXEC_VIRTUALIZE_X2APIC_MODE 0x00000010
#define SECONDARY_EXEC_ENABLE_VPID        0x00000020
#define SECONDARY_EXEC_WBINVD_EXITING     0x00000040
#define SECONDARY_EXEC_UNRESTRICTED_GUEST 0x00000080
#define SECONDARY_EXEC_APIC_REGISTER_VIRT 0x00000100
#define SECONDARY_EXEC_VIRTUAL_INTR_DELIVERY 0x00000200
#define SECONDARY_EXEC_PAUSE_LOOP_EXITING 0x00000400
#define SECONDARY_EXEC_RDRAND_EXITING     0x00000800
#define SECONDARY_EXEC_ENABLE_INVPCID     0x00001000
#define SECONDARY_EXEC_ENABLE_VMFUNC      0x00002000
#define SECONDARY_EXEC_SHADOW_VMCS        0x00004000
#define SECONDARY_EXEC_ENCLS_EXITING      0x00008000
#define SECONDARY_EXEC_RDSEED_EXITING     0x00010000
#define SECONDARY_EXEC_ENABLE_PML         0x00020000
#define SECONDARY_EXEC_EPT_VIOLATION_VE   0x00040000
#define SECONDARY_EXEC_PT_CONCEAL_VMX     0x00080000
#define SECONDARY_EXEC_ENABLE_XSAVES      0x00100000      /* enable XSAVES/XRSTORS */
#define SECONDARY_EXEC_MODE_BASED_EPT_EXEC 0x00400000
#define SECONDARY_EXEC_PT_USE_GPA         0x01000000
#define SECONDARY_EXEC_TSC_SCALING        0x02000000
#define SECONDARY_EXEC_ENABLE_USR_WAIT_PAUSE 0x04000000   /* UMONITOR/UMWAIT/TPAUSE */

/* ---------------------------------------------------------- VM-exit controls */
/* SDM 3C 25.7.1 */
#define VM_EXIT_SAVE_DEBUG_CONTROLS       0x00000004
#define VM_EXIT_HOST_ADDR_SPACE_SIZE      0x00000200
#define VM_EXIT_LOAD_IA32_PERF_GLOBAL_CTRL 0x00001000
#define VM_EXIT_ACK_INTR_ON_EXIT          0x00008000
#define VM_EXIT_SAVE_IA32_PAT             0x00040000
#define VM_EXIT_LOAD_IA32_PAT             0x00080000
#define VM_EXIT_SAVE_IA32_EFER            0x00100000
#define VM_EXIT_LOAD_IA32_EFER            0x00200000
#define VM_EXIT_SAVE_VMX_PREEMPTION_TIMER 0x00400000
#define VM_EXIT_CLEAR_BNDCFGS             0x00800000
#define VM_EXIT_PT_CONCEAL_PIP            0x01000000
#define VM_EXIT_CLEAR_IA32_RTIT_CTL       0x02000000
#define VM_EXIT_CLEAR_IA32_LBR_CTL        0x04000000
#define VM_EXIT_LOAD_CET_STATE            0x10000000
#define VM_EXIT_LOAD_IA32_PKRS            0x20000000
#define VM_EXIT_SAVE_IA32_PERF_GLOBAL_CTRL 0x40000000
#define VM_EXIT_ACTIVATE_SECONDARY_CONTROLS 0x80000000

/* --------------------------------------------------------- VM-entry controls */
/* SDM 3C 25.8.1 */
#define VM_ENTRY_LOAD_DEBUG_CONTROLS      0x00000004
#define VM_ENTRY_IA32E_MODE               0x00000200
#define VM_ENTRY_SMM                      0x00000400
#define VM_ENTRY_DEACT_DUAL_MONITOR       0x00000800
#define VM_ENTRY_LOAD_IA32_PERF_GLOBAL_CTRL 0x00002000
#define VM_ENTRY_LOAD_IA32_PAT            0x00004000
#define VM_ENTRY_LOAD_IA32_EFER           0x00008000
#define VM_ENTRY_LOAD_BNDCFGS             0x00010000
#define VM_ENTRY_PT_CONCEAL_PIP           0x00020000
#define VM_ENTRY_LOAD_IA32_RTIT_CTL       0x00040000
#define VM_ENTRY_LOAD_CET_STATE           0x00100000
#define VM_ENTRY_LOAD_IA32_LBR_CTL        0x00200000
#define VM_ENTRY_LOAD_IA32_PKRS           0x00400000

/* ------------------------------------------------------- VMCS field encodings */
/* SDM 3C appendix B. Encoding bits (SDM 3C 25.11.2): 0 access type (1 = high half
 * of a 64-bit field), 9:1 index, 11:10 type, 14:13 width. */
#define VMCS_FIELD_HIGH(f)                ((f) | 1)
#define VMCS_FIELD_TYPE(f)                (((f) >> 10) & 3)
#define VMCS_FIELD_TYPE_CONTROL           0
#define VMCS_FIELD_TYPE_EXIT_INFO         1               /* read-only data */
#define VMCS_FIELD_TYPE_GUEST             2
#define VMCS_FIELD_TYPE_HOST              3
#define VMCS_FIELD_WIDTH(f)               (((f) >> 13) & 3)
#define VMCS_FIELD_WIDTH_16               0
#define VMCS_FIELD_WIDTH_64               1
#define VMCS_FIELD_WIDTH_32               2
#define VMCS_FIELD_WIDTH_NATURAL          3

/* 16-bit control fields, B.1.1 */
#define VIRTUAL_PROCESSOR_ID              0x0000
#define POSTED_INTR_NV                    0x0002
#define EPTP_INDEX                        0x0004

/* 16-bit guest-state fields, B.1.2 */
#define GUEST_ES_SELECTOR                 0x0800
#define GUEST_CS_SELECTOR                 0x0802
#define GUEST_SS_SELECTOR                 0x0804
#define GUEST_DS_SELECTOR                 0x0806
#define GUEST_FS_SELECTOR                 0x0808
#define GUEST_GS_SELECTOR                 0x080a
#define GUEST_LDTR_SELECTOR               0x080c
#define GUEST_TR_SELECTOR                 0x080e
#define GUEST_INTR_STATUS                 0x0810
#define GUEST_PML_INDEX                   0x0812

/* 16-bit host-state fields, B.1.3 */
#define HOST_ES_SELECTOR                  0x0c00
#define HOST_CS_SELECTOR                  0x0c02
#define HOST_SS_SELECTOR                  0x0c04
#define HOST_DS_SELECTOR                  0x0c06
#define HOST_FS_SELECTOR                  0x0c08
#define HOST_GS_SELECTOR                  0x0c0a
#define HOST_TR_SELECTOR                  0x0c0c

/* 64-bit control fields, B.2.1 */
#define IO_BITMAP_A                       0x2000
#define IO_BITMAP_B                       0x2002
#define MSR_BITMAP                        0x2004
#define VM_EXIT_MSR_STORE_ADDR            0x2006
#define VM_EXIT_MSR_LOAD_ADDR             0x2008
#define VM_ENTRY_MSR_LOAD_ADDR            0x200a
#define EXECUTIVE_VMCS_POINTER            0x200c
#define PML_ADDRESS                       0x200e
#define TSC_OFFSET                        0x2010
#define VIRTUAL_APIC_PAGE_ADDR            0x2012
#define APIC_ACCESS_ADDR                  0x2014
#define POSTED_INTR_DESC_ADDR             0x2016
#define VM_FUNCTION_CONTROL               0x2018
#define EPT_POINTER                       0x201a
#define EOI_EXIT_BITMAP0                  0x201c
#define EOI_EXIT_BITMAP1                  0x201e
#define EOI_EXIT_BITMAP2                  0x2020
#define EOI_EXIT_BITMAP3                  0x2022
#define EPTP_LIST_ADDRESS                 0x2024
#define VMREAD_BITMAP                     0x2026
#define VMWRITE_BITMAP                    0x2028
#define VE_INFORMATION_ADDRESS            0x202a
#define XSS_EXIT_BITMAP                   0x202c
#define ENCLS_EXITING_BITMAP              0x202e
#define TSC_MULTIPLIER                    0x2032
#define TERTIARY_VM_EXEC_CONTROL          0x2034

/* 64-bit read-only data field, B.2.2 */
#define GUEST_PHYSICAL_ADDRESS            0x2400

/* 64-bit guest-state fields, B.2.3 */
#define VMCS_LINK_POINTER                 0x2800
#define GUEST_IA32_DEBUGCTL               0x2802
#define GUEST_IA32_PAT                    0x2804
#define GUEST_IA32_EFER                   0x2806
#define GUEST_IA32_PERF_GLOBAL_CTRL       0x2808
#define GUEST_PDPTR0                      0x280a
#define GUEST_PDPTR1                      0x280c
#define GUEST_PDPTR2                      0x280e
#define GUEST_PDPTR3                      0x2810
#define GUEST_BNDCFGS                     0x2812
#define GUEST_IA32_RTIT_CTL               0x2814
#define GUEST_IA32_LBR_CTL                0x2816
#define GUEST_IA32_PKRS                   0x2818

/* 64-bit host-state fields, B.2.4 */
#define HOST_IA32_PAT                     0x2c00
#define HOST_IA32_EFER                    0x2c02
#define HOST_IA32_PERF_GLOBAL_CTRL        0x2c04
#define HOST_IA32_PKRS                    0x2c06

/* 32-bit control fields, B.3.1 */
#define PIN_BASED_VM_EXEC_CONTROL         0x4000
#define CPU_BASED_VM_EXEC_CONTROL         0x4002
#define EXCEPTION_BITMAP                  0x4004
#define PAGE_FAULT_ERROR_CODE_MASK        0x4006
#define PAGE_FAULT_ERROR_CODE_MATCH       0x4008
#define CR3_TARGET_COUNT                  0x400a
#define VM_EXIT_CONTROLS                  0x400c
#define VM_EXIT_MSR_STORE_COUNT           0x400e
#define VM_EXIT_MSR_LOAD_COUNT            0x4010
#define VM_ENTRY_CONTROLS                 0x4012
#define VM_ENTRY_MSR_LOAD_COUNT           0x4014
#define VM_ENTRY_INTR_INFO_FIELD          0x4016
#define VM_ENTRY_EXCEPTION_ERROR_CODE     0x4018
#define VM_ENTRY_INSTRUCTION_LEN          0x401a
#define TPR_THRESHOLD                     0x401c
#define SECONDARY_VM_EXEC_CONTROL         0x401e
#define PLE_GAP                           0x4020
#define PLE_WINDOW                        0x4022

/* 32-bit read-only data fields, B.3.2 */
#define VM_INSTRUCTION_ERROR              0x4400
#define VM_EXIT_REASON                    0x4402
#define VM_EXIT_INTR_INFO                 0x4404
#define VM_EXIT_INTR_ERROR_CODE           0x4406
#define IDT_VECTORING_INFO_FIELD          0x4408
#define IDT_VECTORING_ERROR_CODE          0x440a
#define VM_EXIT_INSTRUCTION_LEN           0x440c
#define VMX_INSTRUCTION_INFO              0x440e

/* 32-bit guest-state fields, B.3.3 */
#define GUEST_ES_LIMIT                    0x4800
#define GUEST_CS_LIMIT                    0x4802
#define GUEST_SS_LIMIT                    0x4804
#define GUEST_DS_LIMIT                    0x4806
#define GUEST_FS_LIMIT                    0x4808
#define GUEST_GS_LIMIT                    0x480a
#define GUEST_LDTR_LIMIT                  0x480c
#define GUEST_TR_LIMIT                    0x480e
#define GUEST_GDTR_LIMIT                  0x4810
#define GUEST_IDTR_LIMIT                  0x4812
#define GUEST_ES_AR_BYTES                 0x4814
#define GUEST_CS_AR_BYTES                 0x4816
#define GUEST_SS_AR_BYTES                 0x4818
#define GUEST_DS_AR_BYTES                 0x481a
#define GUEST_FS_AR_BYTES                 0x481c
#define GUEST_GS_AR_BYTES                 0x481e
#define GUEST_LDTR_AR_BYTES               0x4820
#define GUEST_TR_AR_BYTES                 0x4822
#define GUEST_INTERRUPTIBILITY_INFO       0x4824
#define GUEST_ACTIVITY_STATE              0x4826
#define GUEST_SMBASE                      0x4828
#define GUEST_SYSENTER_CS                 0x482a
#define VMX_PREEMPTION_TIMER_VALUE        0x482e

/* 32-bit host-state field, B.3.4 */
#define HOST_IA32_SYSENTER_CS             0x4c00

/* Natural-width control fields, B.4.1 */
#define CR0_GUEST_HOST_MASK               0x6000
#define CR4_GUEST_HOST_MASK               0x6002
#define CR0_READ_SHADOW                   0x6004
#define CR4_READ_SHADOW                   0x6006
#define CR3_TARGET_VALUE0                 0x6008
#define CR3_TARGET_VALUE1                 0x600a
#define CR3_TARGET_VALUE2                 0x600c
#define CR3_TARGET_VALUE3                 0x600e

/* Natural-width read-only data fields, B.4.2 */
#define EXIT_QUALIFICATION                0x6400
#define EXIT_IO_RCX                       0x6402
#define EXIT_IO_RSI                       0x6404
#define EXIT_IO_RDI                       0x6406
#define EXIT_IO_RIP                       0x6408
#define GUEST_LINEAR_ADDRESS              0x640a

/* Natural-width guest-state fields, B.4.3 */
#define GUEST_CR0                         0x6800
#define GUEST_CR3                         0x6802
#define GUEST_CR4                         0x6804
#define GUEST_ES_BASE                     0x6806
#define GUEST_CS_BASE                     0x6808
#define GUEST_SS_BASE                     0x680a
#define GUEST_DS_BASE                     0x680c
#define GUEST_FS_BASE                     0x680e
#define GUEST_GS_BASE                     0x6810
#define GUEST_LDTR_BASE                   0x6812
#define GUEST_TR_BASE                     0x6814
#define GUEST_GDTR_BASE                   0x6816
#define GUEST_IDTR_BASE                   0x6818
#define GUEST_DR7                         0x681a
#define GUEST_RSP                         0x681c
#define GUEST_RIP                         0x681e
#define GUEST_RFLAGS                      0x6820
#define GUEST_PENDING_DBG_EXCEPTIONS      0x6822
#define GUEST_SYSENTER_ESP                0x6824
#define GUEST_SYSENTER_EIP                0x6826
#define GUEST_S_CET                       0x6828
#define GUEST_SSP                         0x682a
#define GUEST_INTR_SSP_TABLE              0x682c

/* Natural-width host-state fields, B.4.4 */
#define HOST_CR0                          0x6c00
#define HOST_CR3                          0x6c02
#define HOST_CR4                          0x6c04
#define HOST_FS_BASE                      0x6c06
#define HOST_GS_BASE                      0x6c08
#define HOST_TR_BASE                      0x6c0a
#define HOST_GDTR_BASE                    0x6c0c
#define HOST_IDTR_BASE                    0x6c0e
#define HOST_IA32_SYSENTER_ESP            0x6c10
#define HOST_IA32_SYSENTER_EIP            0x6c12
#define HOST_RSP                          0x6c14
#define HOST_RIP                          0x6c16
#define HOST_S_CET                        0x6c18
#define HOST_SSP                          0x6c1a
#define HOST_INTR_SSP_TABLE               0x6c1c

/* ------------------------------------------------------- guest-state formats */
/* Segment access rights in the VMCS, SDM 3C 25.4.1 */
#define VMX_AR_TYPE_MASK                  0x0000f
#define VMX_AR_TYPE_ACCESSED              0x00001
#define VMX_AR_TYPE_WRITABLE              0x00002     /* data; readable for code */
#define VMX_AR_TYPE_CODE                  0x00008
#define VMX_AR_S                          0x00010     /* 1 = code/data, 0 = system */
#define VMX_AR_DPL_SHIFT                  5
#define VMX_AR_DPL_MASK                   0x00060
#define VMX_AR_P                          0x00080
#define VMX_AR_RESERVED_11_8              0x00f00
#define VMX_AR_AVL                        0x01000
#define VMX_AR_L                          0x02000
#define VMX_AR_DB                         0x04000
#define VMX_AR_G                          0x08000
#define VMX_AR_UNUSABLE                   0x10000
#define VMX_AR_RESERVED_31_17             0xfffe0000
/* Segment types used with the access rights (SDM 3A 3.4.5.1, 3.5) */
#define SEG_TYPE_DATA_RW_ACCESSED         3
#define SEG_TYPE_DATA_RW_EXPDOWN_ACCESSED 7
#define SEG_TYPE_CODE_XR_ACCESSED         11
#define SEG_TYPE_LDT                      2
#define SEG_TYPE_TSS16_BUSY               3
#define SEG_TYPE_TSS_BUSY                 11

/* Activity state, SDM 3C 25.4.2 */
#define GUEST_ACTIVITY_ACTIVE             0
#define GUEST_ACTIVITY_HLT                1
#define GUEST_ACTIVITY_SHUTDOWN           2
#define GUEST_ACTIVITY_WAIT_SIPI          3

/* Interruptibility state, SDM 3C 25.4.2 */
#define GUEST_INTR_STATE_STI              0x00000001
#define GUEST_INTR_STATE_MOV_SS           0x00000002
#define GUEST_INTR_STATE_SMI              0x00000004
#define GUEST_INTR_STATE_NMI              0x00000008
#define GUEST_INTR_STATE_ENCLAVE_INTR     0x00000010

/* Pending debug exceptions, SDM 3C 25.4.2 */
#define GUEST_PENDING_DBG_B0_3            0x0000000f
#define GUEST_PENDING_DBG_ENABLED_BP      0x00001000
#define GUEST_PENDING_DBG_BS              0x00004000
#define GUEST_PENDING_DBG_RTM             0x00010000

/* EPT pointer, SDM 3C 25.6.11 */
#define VMX_EPTP_MT_UC                    0x0
#define VMX_EPTP_MT_WB                    0x6
#define VMX_EPTP_PWL_4                    0x18        /* (walk length - 1) << 3 */
#define VMX_EPTP_PWL_5                    0x20
#define VMX_EPTP_AD_ENABLE                0x40

/* --------------------------------------------------- event injection / info */
/* VM-entry interruption information (SDM 3C 25.8.3), VM-exit interruption and
 * IDT-vectoring information (SDM 3C 25.9.2, 25.9.3) share this layout. */
#define INTR_INFO_VECTOR_MASK             0x000000ff
#define INTR_INFO_INTR_TYPE_MASK          0x00000700
#define INTR_INFO_DELIVER_CODE_MASK       0x00000800
#define INTR_INFO_UNBLOCK_NMI             0x00001000
#define INTR_INFO_VALID_MASK              0x80000000
#define INTR_TYPE_EXT_INTR                0x00000000
#define INTR_TYPE_NMI_INTR                0x00000200
#define INTR_TYPE_HARD_EXCEPTION          0x00000300
#define INTR_TYPE_SOFT_INTR               0x00000400
#define INTR_TYPE_PRIV_SW_EXCEPTION       0x00000500
#define INTR_TYPE_SOFT_EXCEPTION          0x00000600
#define INTR_TYPE_OTHER_EVENT             0x00000700

/* -------------------------------------------------------------- exit reasons */
/* Exit-reason field, SDM 3C 25.9.1: basic reason in bits 15:0 */
#define VMX_EXIT_REASON_BASIC_MASK        0x0000ffff
#define VMX_EXIT_REASONS_SGX_ENCLAVE_MODE 0x08000000
#define VMX_EXIT_REASONS_PENDING_MTF      0x10000000
#define VMX_EXIT_REASONS_FROM_VMX_ROOT    0x20000000
#define VMX_EXIT_REASONS_FAILED_VMENTRY   0x80000000

/* Basic exit reasons, SDM 3C appendix C table C-1 */
#define EXIT_REASON_EXCEPTION_NMI         0
#define EXIT_REASON_EXTERNAL_INTERRUPT    1
#define EXIT_REASON_TRIPLE_FAULT          2
#define EXIT_REASON_INIT_SIGNAL           3
#define EXIT_REASON_SIPI_SIGNAL           4
#define EXIT_REASON_IO_SMI                5
#define EXIT_REASON_OTHER_SMI             6
#define EXIT_REASON_INTERRUPT_WINDOW      7
#define EXIT_REASON_NMI_WINDOW            8
#define EXIT_REASON_TASK_SWITCH           9
#define EXIT_REASON_CPUID                 10
#define EXIT_REASON_GETSEC                11
#define EXIT_REASON_HLT                   12
#define EXIT_REASON_INVD                  13
#define EXIT_REASON_INVLPG                14
#define EXIT_REASON_RDPMC                 15
#define EXIT_REASON_RDTSC                 16
#define EXIT_REASON_RSM                   17
#define EXIT_REASON_VMCALL                18
#define EXIT_REASON_VMCLEAR               19
#define EXIT_REASON_VMLAUNCH              20
#define EXIT_REASON_VMPTRLD               21
#define EXIT_REASON_VMPTRST               22
#define EXIT_REASON_VMREAD                23
#define EXIT_REASON_VMRESUME              24
#define EXIT_REASON_VMWRITE               25
#define EXIT_REASON_VMOFF                 26
#define EXIT_REASON_VMON                  27
#define EXIT_REASON_CR_ACCESS             28
#define EXIT_REASON_DR_ACCESS             29
#define EXIT_REASON_IO_INSTRUCTION        30
#define EXIT_REASON_MSR_READ              31
#define EXIT_REASON_MSR_WRITE             32
#define EXIT_REASON_INVALID_STATE         33      /* VM-entry failure: guest state */
#define EXIT_REASON_MSR_LOAD_FAIL         34      /* VM-entry failure: MSR loading */
#define EXIT_REASON_MWAIT_INSTRUCTION     36
#define EXIT_REASON_MONITOR_TRAP_FLAG     37
#define EXIT_REASON_MONITOR_INSTRUCTION   39
#define EXIT_REASON_PAUSE_INSTRUCTION     40
#define EXIT_REASON_MCE_DURING_VMENTRY    41
#define EXIT_REASON_TPR_BELOW_THRESHOLD   43
#define EXIT_REASON_APIC_ACCESS           44
#define EXIT_REASON_EOI_INDUCED           45
#define EXIT_REASON_GDTR_IDTR             46
#define EXIT_REASON_LDTR_TR               47
#define EXIT_REASON_EPT_VIOLATION         48
#define EXIT_REASON_EPT_MISCONFIG         49
#define EXIT_REASON_INVEPT                50
#define EXIT_REASON_RDTSCP                51
#define EXIT_REASON_PREEMPTION_TIMER      52
#define EXIT_REASON_INVVPID               53
#define EXIT_REASON_WBINVD                54
#define EXIT_REASON_XSETBV                55
#define EXIT_REASON_APIC_WRITE            56
#define EXIT_REASON_RDRAND                57
#define EXIT_REASON_INVPCID               58
#define EXIT_REASON_VMFUNC                59
#define EXIT_REASON_ENCLS                 60
#define EXIT_REASON_RDSEED                61
#define EXIT_REASON_PML_FULL              62
#define EXIT_REASON_XSAVES                63
#define EXIT_REASON_XRSTORS               64
#define EXIT_REASON_PCONFIG               65
#define EXIT_REASON_SPP                   66
#define EXIT_REASON_UMWAIT                67
#define EXIT_REASON_TPAUSE                68
#define EXIT_REASON_LOADIWKEY             69
#define EXIT_REASON_ENCLV                 70
#define EXIT_REASON_ENQCMD_PASID_FAIL     72
#define EXIT_REASON_ENQCMDS_PASID_FAIL    73
#define EXIT_REASON_BUS_LOCK              74
#define EXIT_REASON_NOTIFY                75      /* instruction timeout */
#define EXIT_REASON_SEAMCALL              76
#define EXIT_REASON_TDCALL                77
#define EXIT_REASON_MAX                   77

/* -------------------------------------------------- VM-instruction errors */
/* SDM 3C 31.4 */
#define VMXERR_VMCALL_IN_VMX_ROOT                 1
#define VMXERR_VMCLEAR_INVALID_ADDRESS            2
#define VMXERR_VMCLEAR_VMXON_POINTER              3
#define VMXERR_VMLAUNCH_NONCLEAR_VMCS             4
#define VMXERR_VMRESUME_NONLAUNCHED_VMCS          5
#define VMXERR_VMRESUME_AFTER_VMXOFF              6
#define VMXERR_ENTRY_INVALID_CONTROL_FIELD        7
#define VMXERR_ENTRY_INVALID_HOST_STATE_FIELD     8
#define VMXERR_VMPTRLD_INVALID_ADDRESS            9
#define VMXERR_VMPTRLD_VMXON_POINTER              10
#define VMXERR_VMPTRLD_INCORRECT_VMCS_REVISION_ID 11
#define VMXERR_UNSUPPORTED_VMCS_COMPONENT         12
#define VMXERR_VMWRITE_READ_ONLY_VMCS_COMPONENT   13
#define VMXERR_VMXON_IN_VMX_ROOT_OPERATION        15
#define VMXERR_ENTRY_INVALID_EXECUTIVE_VMCS_POINTER 16
#define VMXERR_ENTRY_NONLAUNCHED_EXECUTIVE_VMCS   17
#define VMXERR_ENTRY_EXECUTIVE_VMCS_POINTER_NOT_VMXON_POINTER 18
#define VMXERR_VMCALL_NONCLEAR_VMCS               19
#define VMXERR_VMCALL_INVALID_VM_EXIT_CONTROL_FIELDS 20
#define VMXERR_VMCALL_INCORRECT_MSEG_REVISION_ID  22
#define VMXERR_VMXOFF_UNDER_DUAL_MONITOR_TREATMENT_OF_SMIS_AND_SMM 23
#define VMXERR_VMCALL_INVALID_SMM_MONITOR_FEATURES 24
#define VMXERR_ENTRY_INVALID_VM_EXECUTION_CONTROL_FIELDS_IN_EXECUTIVE_VMCS 25
#define VMXERR_ENTRY_EVENTS_BLOCKED_BY_MOV_SS      26
#define VMXERR_INVALID_OPERAND_TO_INVEPT_INVVPID   28

/* ------------------------------------------------------ exit qualifications */
/* Control-register accesses, SDM 3C 28.2.1 */
#define CR_ACCESS_CR_NUM(q)               ((q) & 0xf)
#define CR_ACCESS_TYPE(q)                 (((q) >> 4) & 3)
#define CR_ACCESS_TYPE_MOV_TO_CR          0
#define CR_ACCESS_TYPE_MOV_FROM_CR        1
#define CR_ACCESS_TYPE_CLTS               2
#define CR_ACCESS_TYPE_LMSW               3
#define CR_ACCESS_LMSW_MEMORY             0x40
#define CR_ACCESS_GPR(q)                  (((q) >> 8) & 0xf)
#define CR_ACCESS_LMSW_DATA(q)            (((q) >> 16) & 0xffff)

/* MOV DR, SDM 3C 28.2.1 */
#define DR_ACCESS_DR_NUM(q)               ((q) & 7)
#define DR_ACCESS_FROM_DR                 0x10        /* 0 = MOV to DR */
#define DR_ACCESS_GPR(q)                  (((q) >> 8) & 0xf)

/* I/O instructions, SDM 3C 28.2.1 */
#define IO_QUAL_SIZE(q)                   (((q) & 7) + 1)     /* bytes */
#define IO_QUAL_IN                        0x08
#define IO_QUAL_STRING                    0x10
#define IO_QUAL_REP                       0x20
#define IO_QUAL_IMMEDIATE                 0x40
#define IO_QUAL_PORT(q)                   (((q) >> 16) & 0xffff)

/* EPT violations, SDM 3C 28.2.1 */
#define EPT_VIOLATION_READ                0x001
#define EPT_VIOLATION_WRITE               0x002
#define EPT_VIOLATION_FETCH               0x004
#define EPT_VIOLATION_READABLE            0x008
#define EPT_VIOLATION_WRITABLE            0x010
#define EPT_VIOLATION_EXECUTABLE          0x020
#define EPT_VIOLATION_GLA_VALID           0x080
#define EPT_VIOLATION_GLA_TRANSLATED      0x100
#define EPT_VIOLATION_NMI_UNBLOCKING      0x1000

/* Task switches, SDM 3C 28.2.1 */
#define TASK_SWITCH_SELECTOR(q)           ((q) & 0xffff)
#define TASK_SWITCH_SOURCE(q)             (((q) >> 30) & 3)

#endif
