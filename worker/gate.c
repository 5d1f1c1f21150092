/* Per-tool concurrency caps of one worker (see gate.h). */
#include "gate.h"

#include <stdlib.h>

#include "job.h"
#include "worker.h"

struct tool_gate {
    int64_t running;
    struct job *head, *tail; /* waiting, through job->gate_next */
};

/* The tool's gate, or NULL when the tool has no cap of its own. */
static struct tool_gate *gate_of(struct worker *w, const struct tool_cfg *t)
{
    if (t->concurrency <= 0) return NULL;
    if (!w->gates) w->gates = calloc(w->cfg->ntools, sizeof *w->gates);
    return &w->gates[t - w->cfg->tools];
}

bool gate_admit(struct worker *w, struct job *j)
{
    struct tool_gate *g = gate_of(w, j->tool);
    if (!g || g->running < j->tool->concurrency) {
        if (g) g->running++;
        return true;
    }
    j->gate_next = NULL;
    if (g->tail)
        g->tail->gate_next = j;
    else
        g->head = j;
    g->tail = j;
    return false;
}

void gate_leave(struct worker *w, const struct tool_cfg *t)
{
    struct tool_gate *g = gate_of(w, t);
    if (!g) return;
    g->running--;
    struct job *next = g->head;
    if (!next) return;
    g->head = next->gate_next;
    if (!g->head) g->tail = NULL;
    g->running++;
    job_launch(next);
}

void gate_remove(struct worker *w, struct job *j)
{
    struct tool_gate *g = gate_of(w, j->tool);
    struct job **pp = &g->head, *prev = NULL;
    while (*pp && *pp != j) {
        prev = *pp;
        pp = &(*pp)->gate_next;
    }
    if (!*pp) return;
    *pp = j->gate_next;
    if (g->tail == j) g->tail = prev;
}
