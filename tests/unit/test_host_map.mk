UNIT_TESTS += test_host_map
# M6: the monitor's own page tables and the MTRRs (core/host.c).
test_host_map_SRCS := core/host.c ept/mtrr.c
