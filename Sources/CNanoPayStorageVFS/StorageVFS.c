#include "CNanoPayStorageVFS.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* A shim over the default VFS. Each open file is our header followed by the real file. */
typedef struct shim_file shim_file;
struct shim_file {
    sqlite3_file base;
    sqlite3_file *real;
    const char *path; /* owned by SQLite for the life of the file */
    int is_wal;
    /* WAL files: frames written since the last flush, one contiguous range of the file. */
    unsigned char *pending;
    sqlite3_int64 pending_offset;
    size_t pending_length;
    /* The main database file and the WAL file of one connection point at each other, so a
       shm barrier on the database (a commit being published to readers) can flush the WAL. */
    shim_file *wal;
    shim_file *db;
    shim_file *next_db; /* registry of open main database files */
};

/* Why coalesce: SQLite writes every WAL frame as two pwrite calls (24-byte header, page), so a
   group commit of 50 payments dirtying ~6 pages each made ~600 system calls before its fsync,
   on the single writer thread. Frames are held here and written as one call when anything could
   observe the file: before a sync, read, size query, truncate, close, file control, or the shm
   barrier that publishes a commit to other connections. Nothing is acknowledged before the
   sync, and a crash before the flush loses only frames of a commit that never completed, which
   SQLite's recovery ignores anyway. */
#define PENDING_CAPACITY (4u << 20)

#define MAX_FAULTS 32
static struct { char *prefix; size_t length; int fault; } faults[MAX_FAULTS];
static atomic_int armed_count = 0;
static atomic_long injected = 0;
static pthread_mutex_t faults_lock = PTHREAD_MUTEX_INITIALIZER;
static void (*_Atomic wal_sync_hook)(void) = NULL;
static sqlite3_vfs *default_vfs = NULL;
static sqlite3_vfs shim_vfs;

static int fault_for(const char *path) {
    if (atomic_load_explicit(&armed_count, memory_order_acquire) == 0 || path == NULL) return NANOPAY_FAULT_NONE;
    int fault = NANOPAY_FAULT_NONE;
    pthread_mutex_lock(&faults_lock);
    for (int i = 0; i < MAX_FAULTS; i++) {
        if (faults[i].prefix && strncmp(path, faults[i].prefix, faults[i].length) == 0) { fault = faults[i].fault; break; }
    }
    pthread_mutex_unlock(&faults_lock);
    return fault;
}

int nanopay_vfs_set_fault(const char *path_prefix, int fault) {
    int rc = 0;
    pthread_mutex_lock(&faults_lock);
    int slot = -1;
    for (int i = 0; i < MAX_FAULTS; i++) {
        if (faults[i].prefix && strcmp(faults[i].prefix, path_prefix) == 0) { slot = i; break; }
    }
    if (fault == NANOPAY_FAULT_NONE) {
        if (slot >= 0) {
            free(faults[slot].prefix);
            faults[slot].prefix = NULL;
            atomic_fetch_sub(&armed_count, 1);
        }
    } else {
        if (slot < 0) {
            for (int i = 0; i < MAX_FAULTS; i++) if (!faults[i].prefix) { slot = i; break; }
            if (slot < 0) { rc = -1; goto out; }
            faults[slot].prefix = strdup(path_prefix);
            faults[slot].length = strlen(path_prefix);
            atomic_fetch_add(&armed_count, 1);
        }
        faults[slot].fault = fault;
    }
out:
    pthread_mutex_unlock(&faults_lock);
    return rc;
}

void nanopay_vfs_set_wal_sync_hook(void (*hook)(void)) { atomic_store(&wal_sync_hook, hook); }
long nanopay_vfs_faults_injected(void) { return atomic_load(&injected); }

#define REAL(f) (((shim_file *)(f))->real)

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static shim_file *open_dbs = NULL;

/* Writes the held WAL frames. On failure they are dropped: the commit they belong to fails and
   SQLite rolls it back, rewriting whatever it needs. */
static int flush_pending(shim_file *s) {
    int rc = SQLITE_OK;
    /* The unix VFS writes at most 0x1ffff bytes per call: it masks larger counts, so a longer
       write ends in a zero-length write that it reports as SQLITE_FULL. */
    for (size_t done = 0; done < s->pending_length && rc == SQLITE_OK;) {
        size_t chunk = s->pending_length - done;
        if (chunk > 0x1f000) chunk = 0x1f000;
        rc = s->real->pMethods->xWrite(s->real, s->pending + done, (int)chunk, s->pending_offset + (sqlite3_int64)done);
        done += chunk;
    }
    s->pending_length = 0;
    return rc;
}

static int shim_close(sqlite3_file *f) {
    shim_file *s = (shim_file *)f;
    int flushed = flush_pending(s);
    free(s->pending);
    s->pending = NULL;
    pthread_mutex_lock(&registry_lock);
    if (s->db) s->db->wal = NULL;
    if (s->wal) s->wal->db = NULL;
    for (shim_file **p = &open_dbs; *p; p = &(*p)->next_db) {
        if (*p == s) { *p = s->next_db; break; }
    }
    pthread_mutex_unlock(&registry_lock);
    int rc = REAL(f)->pMethods ? REAL(f)->pMethods->xClose(REAL(f)) : SQLITE_OK;
    return flushed != SQLITE_OK ? flushed : rc;
}
static int shim_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off) {
    int rc = flush_pending((shim_file *)f);
    if (rc != SQLITE_OK) return rc;
    return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}
static int shim_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off) {
    shim_file *s = (shim_file *)f;
    int fault = fault_for(s->path);
    if (fault == NANOPAY_FAULT_DISK_FULL) { atomic_fetch_add(&injected, 1); return SQLITE_FULL; }
    if (fault == NANOPAY_FAULT_WRITE_ERROR) { atomic_fetch_add(&injected, 1); return SQLITE_IOERR_WRITE; }
    if (!s->is_wal || n <= 0) return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
    /* Appends to (or rewrites inside) the held range stay in memory. */
    sqlite3_int64 end = s->pending_offset + (sqlite3_int64)s->pending_length;
    if (s->pending_length > 0 && off >= s->pending_offset && off <= end &&
        (sqlite3_uint64)(off - s->pending_offset) + (sqlite3_uint64)n <= PENDING_CAPACITY) {
        size_t at = (size_t)(off - s->pending_offset);
        memcpy(s->pending + at, buf, (size_t)n);
        if (at + (size_t)n > s->pending_length) s->pending_length = at + (size_t)n;
        return SQLITE_OK;
    }
    int rc = flush_pending(s);
    if (rc != SQLITE_OK) return rc;
    if ((size_t)n > PENDING_CAPACITY) return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
    if (!s->pending && !(s->pending = malloc(PENDING_CAPACITY))) return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
    memcpy(s->pending, buf, (size_t)n);
    s->pending_offset = off;
    s->pending_length = (size_t)n;
    return SQLITE_OK;
}
static int shim_truncate(sqlite3_file *f, sqlite3_int64 size) {
    int fault = fault_for(((shim_file *)f)->path);
    if (fault == NANOPAY_FAULT_DISK_FULL || fault == NANOPAY_FAULT_WRITE_ERROR) { atomic_fetch_add(&injected, 1); return SQLITE_IOERR_TRUNCATE; }
    int rc = flush_pending((shim_file *)f);
    if (rc != SQLITE_OK) return rc;
    return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
static int shim_sync(sqlite3_file *f, int flags) {
    shim_file *s = (shim_file *)f;
    int rc = flush_pending(s);
    if (rc != SQLITE_OK) return rc;
    if (s->is_wal) {
        void (*hook)(void) = atomic_load(&wal_sync_hook);
        if (hook) hook();
    }
    int fault = fault_for(s->path);
    if (fault == NANOPAY_FAULT_FSYNC_ERROR || fault == NANOPAY_FAULT_WRITE_ERROR) { atomic_fetch_add(&injected, 1); return SQLITE_IOERR_FSYNC; }
    return REAL(f)->pMethods->xSync(REAL(f), flags);
}
static int shim_file_size(sqlite3_file *f, sqlite3_int64 *size) {
    int rc = flush_pending((shim_file *)f);
    if (rc != SQLITE_OK) return rc;
    return REAL(f)->pMethods->xFileSize(REAL(f), size);
}
static int shim_lock(sqlite3_file *f, int level) { return REAL(f)->pMethods->xLock(REAL(f), level); }
static int shim_unlock(sqlite3_file *f, int level) { return REAL(f)->pMethods->xUnlock(REAL(f), level); }
static int shim_check_reserved(sqlite3_file *f, int *out) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out); }
static int shim_file_control(sqlite3_file *f, int op, void *arg) {
    int rc = flush_pending((shim_file *)f);
    if (rc != SQLITE_OK) return rc;
    return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}
static int shim_sector_size(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int shim_device_characteristics(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int shim_shm_map(sqlite3_file *f, int pg, int sz, int extend, void volatile **p) { return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, extend, p); }
static int shim_shm_lock(sqlite3_file *f, int offset, int n, int flags) {
    shim_file *s = (shim_file *)f;
    if (s->wal) (void)flush_pending(s->wal);
    return REAL(f)->pMethods->xShmLock(REAL(f), offset, n, flags);
}
/* SQLite publishes a commit by writing the wal-index header around this barrier: the frames
   must be in the file before readers on other connections can be told about them. A failed
   flush here cannot be reported (the barrier returns nothing); it only happens when the commit
   skipped its sync (synchronous below FULL, which the ledger refuses), and the write error
   comes back on the next read, sync or size query of the WAL. */
static void shim_shm_barrier(sqlite3_file *f) {
    shim_file *s = (shim_file *)f;
    if (s->wal) (void)flush_pending(s->wal);
    REAL(f)->pMethods->xShmBarrier(REAL(f));
}
static int shim_shm_unmap(sqlite3_file *f, int del) { return REAL(f)->pMethods->xShmUnmap(REAL(f), del); }
static int shim_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp) {
    int rc = flush_pending((shim_file *)f);
    if (rc != SQLITE_OK) return rc;
    return REAL(f)->pMethods->xFetch(REAL(f), off, amt, pp);
}
static int shim_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p) { return REAL(f)->pMethods->xUnfetch(REAL(f), off, p); }

static const sqlite3_io_methods shim_io_v3 = {
    3, shim_close, shim_read, shim_write, shim_truncate, shim_sync, shim_file_size, shim_lock, shim_unlock,
    shim_check_reserved, shim_file_control, shim_sector_size, shim_device_characteristics,
    shim_shm_map, shim_shm_lock, shim_shm_barrier, shim_shm_unmap, shim_fetch, shim_unfetch,
};

static int shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags) {
    (void)vfs;
    shim_file *s = (shim_file *)f;
    s->real = (sqlite3_file *)&s[1];
    s->path = name;
    s->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
    s->pending = NULL;
    s->pending_offset = 0;
    s->pending_length = 0;
    s->wal = s->db = s->next_db = NULL;
    int rc = default_vfs->xOpen(default_vfs, name, s->real, flags, out_flags);
    /* SQLite calls xClose only when pMethods is set; mirror the real file's state. */
    s->base.pMethods = s->real->pMethods ? &shim_io_v3 : NULL;
    if (rc == SQLITE_OK && s->base.pMethods && name) {
        pthread_mutex_lock(&registry_lock);
        if (flags & SQLITE_OPEN_MAIN_DB) {
            s->next_db = open_dbs;
            open_dbs = s;
        } else if (s->is_wal) {
            /* The WAL's name lives in the same allocation as its database's name. */
            const char *db_name = sqlite3_filename_database(name);
            for (shim_file *d = open_dbs; d; d = d->next_db) {
                if (d->path == db_name) { d->wal = s; s->db = d; break; }
            }
        }
        pthread_mutex_unlock(&registry_lock);
    }
    return rc;
}

#define FORWARD(name, ...) return default_vfs->name(default_vfs, __VA_ARGS__)
static int shim_delete(sqlite3_vfs *v, const char *n, int sync) { (void)v; FORWARD(xDelete, n, sync); }
static int shim_access(sqlite3_vfs *v, const char *n, int flags, int *out) { (void)v; FORWARD(xAccess, n, flags, out); }
static int shim_full_pathname(sqlite3_vfs *v, const char *n, int size, char *out) { (void)v; FORWARD(xFullPathname, n, size, out); }
static void *shim_dl_open(sqlite3_vfs *v, const char *n) { (void)v; FORWARD(xDlOpen, n); }
static void shim_dl_error(sqlite3_vfs *v, int n, char *msg) { (void)v; default_vfs->xDlError(default_vfs, n, msg); }
static void (*shim_dl_sym(sqlite3_vfs *v, void *h, const char *sym))(void) { (void)v; FORWARD(xDlSym, h, sym); }
static void shim_dl_close(sqlite3_vfs *v, void *h) { (void)v; default_vfs->xDlClose(default_vfs, h); }
static int shim_randomness(sqlite3_vfs *v, int n, char *out) { (void)v; FORWARD(xRandomness, n, out); }
static int shim_sleep(sqlite3_vfs *v, int micros) { (void)v; FORWARD(xSleep, micros); }
static int shim_current_time(sqlite3_vfs *v, double *out) { (void)v; FORWARD(xCurrentTime, out); }
static int shim_get_last_error(sqlite3_vfs *v, int n, char *out) { (void)v; FORWARD(xGetLastError, n, out); }
static int shim_current_time_int64(sqlite3_vfs *v, sqlite3_int64 *out) { (void)v; FORWARD(xCurrentTimeInt64, out); }

static pthread_once_t register_once = PTHREAD_ONCE_INIT;
static int register_rc = SQLITE_ERROR;

static void do_register(void) {
    /* Before SQLite initializes (sqlite3_vfs_find does): no global memory statistics. With them
       on, every sqlite3_malloc and free takes a process-wide mutex, a few percent of the ledger
       writer's time; nothing reads the statistics. SQLITE_MISUSE if SQLite was already
       initialized by someone else: then the defaults simply stay. */
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    default_vfs = sqlite3_vfs_find(NULL);
    if (!default_vfs || default_vfs->iVersion < 2) { register_rc = SQLITE_ERROR; return; }
    memset(&shim_vfs, 0, sizeof shim_vfs);
    shim_vfs.iVersion = 2;
    shim_vfs.szOsFile = (int)sizeof(shim_file) + default_vfs->szOsFile;
    shim_vfs.mxPathname = default_vfs->mxPathname;
    shim_vfs.zName = "nanopay";
    shim_vfs.xOpen = shim_open;
    shim_vfs.xDelete = shim_delete;
    shim_vfs.xAccess = shim_access;
    shim_vfs.xFullPathname = shim_full_pathname;
    shim_vfs.xDlOpen = shim_dl_open;
    shim_vfs.xDlError = shim_dl_error;
    shim_vfs.xDlSym = shim_dl_sym;
    shim_vfs.xDlClose = shim_dl_close;
    shim_vfs.xRandomness = shim_randomness;
    shim_vfs.xSleep = shim_sleep;
    shim_vfs.xCurrentTime = shim_current_time;
    shim_vfs.xGetLastError = shim_get_last_error;
    shim_vfs.xCurrentTimeInt64 = shim_current_time_int64;
    register_rc = sqlite3_vfs_register(&shim_vfs, 0);
}

int nanopay_vfs_register(void) {
    pthread_once(&register_once, do_register);
    return register_rc;
}
