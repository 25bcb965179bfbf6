/* The only system hook newlib's string formatting can reach is sbrk (through
 * realloc). The monitor has no heap: reaching it is a bug, reported loudly. */
#include <stddef.h>
#include "core/log.h"

void lamina_sbrk_panic(void) __attribute__((noreturn, noinline, used));
void lamina_sbrk_panic(void)
{
    panic("the monitor tried to allocate heap memory (sbrk): no heap exists");
}

void *sbrk(ptrdiff_t incr);
void *sbrk(ptrdiff_t incr)
{
    (void)incr;
    lamina_sbrk_panic();
}
