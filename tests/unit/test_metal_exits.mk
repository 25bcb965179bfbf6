UNIT_TESTS += test_metal_exits
# M6: exits where the guest must not tell the monitor from bare metal (every
# unconditional exit, resets, CR0/CR4, TSC deadline), through the harness of
# tests/unit/exit_harness.h; the same sources as test_exits.
test_metal_exits_SRCS := tests/unit/fake_vmcs.c tests/unit/fake_hw.c \
	vmx/exit.c vmx/guest.c vmx/cr.c vmx/init.c vmx/ept_exit.c vmx/setup.c vmx/caps.c \
	vmx/init_state.c vmx/ept_above.c vmx/msr_list.c ept/ept.c ept/mtrr.c core/spec.c \
	core/vcpu.c core/debug.c core/msr.c core/io.c core/io_string.c core/ipi.c core/apic.c core/memory.c \
	core/stats.c core/evlog.c core/hypercall.c core/gwalk.c core/policy.c core/cpuid.c \
	core/xsetbv.c core/guest_msr.c core/tsc.c core/x86_decode.c core/log.c core/shutdown.c core/sleep.c \
	iommu/iommu.c iommu/dma.c iommu/dmar.c iommu/vtd.c iommu/msg.c iommu/hw.c
