/* libFuzzer target: config_parse() on arbitrary bytes.
 *
 * Beyond the sanitizers' own checks it asserts what the loader and the
 * monitor rely on: the result is 0 or -1, the message is NUL-terminated and
 * starts with "lamina.conf", a failure leaves exactly the defaults, and a
 * success leaves a policy the monitor can use without checking it again
 * (every rule in bounds, no two rules the lookup cannot order, the lock
 * table complete and without duplicates). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "efi/config.h"

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "fuzz_config: %s:%d: %s\n", __FILE__, __LINE__, \
                    #cond);                                                 \
            abort();                                                        \
        }                                                                   \
    } while (0)

/* Is msr under some lock rule? */
static int locked(const struct lamina_policy *p, uint32_t msr)
{
    for (uint32_t i = 0; i < p->nrules; i++) {
        const struct policy_rule *r = &p->rule[i];

        if (r->space == POLICY_MSR && r->action == POLICY_LOCK &&
            msr >= r->first && msr <= r->last)
            return 1;
    }
    return 0;
}

static void check_policy(const struct lamina_config *c)
{
    const struct lamina_policy *p = &c->policy;
    uint32_t expect[POLICY_MAX_LOCKS], nexpect = 0;

    CHECK(p->nrules <= POLICY_MAX_RULES);
    CHECK(p->nlocks <= POLICY_MAX_LOCKS);
    CHECK(p->stealth <= 1 && p->serial_exclusive <= 1 && p->hypercall_user <= 2);
    CHECK(p->event_level <= 3 || p->event_level == POLICY_EVENTS_NONE);
    if (p->serial_exclusive)
        CHECK(c->serial_port != 0);

    for (uint32_t i = 0; i < p->nrules; i++) {
        const struct policy_rule *r = &p->rule[i];

        CHECK(r->space == POLICY_IO || r->space == POLICY_MSR);
        CHECK(r->action == POLICY_LOG || r->action == POLICY_DENY ||
              r->action == POLICY_LOCK);
        CHECK(r->dir == POLICY_READ || r->dir == POLICY_WRITE || r->dir == POLICY_RW);
        CHECK(r->first <= r->last);
        CHECK(r->line >= 1);
        if (i > 0)
            CHECK(r->line > p->rule[i - 1].line);
        if (r->space == POLICY_IO) {
            CHECK(r->last <= 0xffff);
            CHECK(r->action != POLICY_LOCK);
            if (p->serial_exclusive)
                CHECK(r->last < c->serial_port || r->first > c->serial_port + 7u);
        } else {
            /* Every MSR in between coverable: same window. */
            CHECK(policy_msr_coverable(r->first) && policy_msr_coverable(r->last));
            CHECK(r->last - r->first <= 0x1fff);
        }
        if (r->action == POLICY_LOCK)
            CHECK(r->dir == POLICY_WRITE);

        /* No two rules the lookup cannot order with different outcomes. */
        for (uint32_t j = 0; j < i; j++) {
            const struct policy_rule *o = &p->rule[j];

            if (o->space != r->space || o->action == r->action || !(o->dir & r->dir) ||
                o->last < r->first || r->last < o->first)
                continue;
            CHECK(o->last - o->first != r->last - r->first ||
                  (o->dir == POLICY_RW) != (r->dir == POLICY_RW));
        }

        /* Expected lock table: rule order, each MSR once. */
        if (r->action == POLICY_LOCK) {
            for (uint32_t m = r->first;; m++) {
                uint32_t k;

                for (k = 0; k < nexpect && expect[k] != m; k++)
                    ;
                if (k == nexpect) {
                    CHECK(nexpect < POLICY_MAX_LOCKS);
                    expect[nexpect++] = m;
                }
                if (m == r->last)
                    break;
            }
        }
    }
    CHECK(p->nlocks == nexpect);
    for (uint32_t k = 0; k < p->nlocks; k++) {
        CHECK(p->lock_msr[k] == expect[k]);
        CHECK(locked(p, p->lock_msr[k]));
        CHECK(policy_lock_slot(p, p->lock_msr[k]) == (int)k);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct lamina_config cfg, defaults;
    char err[CONFIG_ERR_SUGGESTED];
    int rc;

    /* The same fill under both: padding compares equal, every field that
     * config_parse() forgets to reset does not. */
    memset(&cfg, 0xa5, sizeof(cfg));
    memset(&defaults, 0xa5, sizeof(defaults));
    config_defaults(&defaults);
    memset(err, 'X', sizeof(err));

    rc = config_parse((const char *)data, size, &cfg, err, sizeof(err));

    CHECK(rc == 0 || rc == -1);
    CHECK(memchr(err, '\0', sizeof(err)) != NULL);
    if (rc == -1) {
        CHECK(strncmp(err, "lamina.conf", 11) == 0);
        CHECK(err[11] == ':');
        CHECK(memcmp(&cfg, &defaults, sizeof(cfg)) == 0);
        return 0;
    }
    CHECK(err[0] == '\0');
    CHECK(cfg.guest[0] == '\\');
    CHECK(memchr(cfg.guest, '\0', sizeof(cfg.guest)) != NULL);
    CHECK(memchr(cfg.options, '\0', sizeof(cfg.options)) != NULL);
    CHECK(cfg.on_error <= ON_ERROR_HALT && cfg.log_level <= CONFIG_LOG_DEBUG);
    CHECK(cfg.serial_port <= CONFIG_SERIAL_MAX);
    check_policy(&cfg);
    return 0;
}
