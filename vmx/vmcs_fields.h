/* VMCS field encodings (SDM 3C appendix B), included by vmx/vmx_defs.h.
 * Plain integer literals: usable from assembly too. */
#ifndef LAMINA_VMCS_FIELDS_H
#define LAMINA_VMCS_FIELDS_H

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

#endif
