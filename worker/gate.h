/*
 * Per-tool concurrency inside one worker (a tool's `concurrency` key). A job whose
 * tool is at its cap waits in that tool's FIFO, holding its worker slot and staying in
 * the in-flight list, so nothing is lost; it starts when a job of the same tool ends.
 */
#ifndef FAC_GATE_H
#define FAC_GATE_H

#include <stdbool.h>

#include "config.h"

struct worker;
struct job;

/* True when j may start now (its tool's count is taken); false when j was queued. */
bool gate_admit(struct worker *w, struct job *j);
/* A job of tool t that was admitted has ended: starts the next waiting one, if any. */
void gate_leave(struct worker *w, const struct tool_cfg *t);
/* Takes a waiting job out of its queue (abort); it will not be started. */
void gate_remove(struct worker *w, struct job *j);

#endif
