FUZZ_TARGETS += fuzz_hypercall
fuzz_hypercall_SRCS := core/hypercall.c core/evlog.c core/gwalk.c
