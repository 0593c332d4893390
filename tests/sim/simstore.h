/*
 * The simulation's event store: an in-memory struct wsp_evlog_store_ops
 * whose contents (a struct simdb) outlive the logs opened on it, so that
 * a "restart" is wsp_evlog_free() then wsp_evlog_new() on the same db.
 * Appends are acknowledged at once and made durable by sync() or every
 * sync_interval ms of tick(); a crash loses what was not durable and
 * reports those streams lost, as wsp_evlog_store(3) asks. Faults are
 * injected on demand; every stored event and epoch change is reported to
 * the simulation, which keeps them as the ground truth.
 */
#ifndef WSP_SIM_STORE_H
#define WSP_SIM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <wsp/evlog.h>

struct simdb;

struct simdb_hooks {
  /* An event was stored in stream name under epoch. */
  void (*appended)(const char *name, size_t len, const char *epoch,
                   const struct wsp_evlog_event *e, void *ud);
  /* Stream name has epoch from now on; events 1..keep_top of the
   * previous epoch are still its (0: a fresh stream); epoch NULL: the
   * stream was removed. */
  void (*epoch)(const char *name, size_t len, const char *epoch,
                uint64_t keep_top, void *ud);
  /* A number in [0, n) for fault decisions. */
  uint64_t (*below)(uint64_t n, void *ud);
  void *ud;
};

struct simdb_faults {
  unsigned append_permille; /* appends refused */
  unsigned read_permille;   /* reads refused */
  unsigned create_permille; /* stream creations refused */
};

struct simdb_stats {
  uint64_t appends, append_faults, read_faults, create_faults;
  uint64_t syncs, crashes, lost_streams, lost_events;
};

struct simdb *simdb_new(const struct simdb_hooks *hooks,
                        uint64_t sync_interval);
void simdb_free(struct simdb *db);
void simdb_set_faults(struct simdb *db, const struct simdb_faults *f);
/* Keep the events in the library's file store in dir instead (opened
 * anew by each simdb_store(); restarts are then clean ones). */
void simdb_set_dir(struct simdb *db, const char *dir);
/* A store over db for wsp_evlog_new() (which consumes it); mem is the
 * file store's. */
struct wsp_evlog_store *simdb_store(struct simdb *db,
                                    const struct wsp_mem *mem);
/* Call before wsp_evlog_free(): the close that follows makes nothing
 * durable, and what was not durable is gone. Memory store only. */
void simdb_crash(struct simdb *db);
void simdb_get_stats(const struct simdb *db, struct simdb_stats *out);
/* Bytes the db holds (its events), for the memory report. */
size_t simdb_bytes(const struct simdb *db);

#endif /* WSP_SIM_STORE_H */
