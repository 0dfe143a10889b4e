#include <sqlite3.h>

// sqlite3_config is variadic, which Swift cannot call. Memory statistics take a global mutex on every allocation; the
// CLI reads none of them. Returns SQLITE_MISUSE, harmlessly, once SQLite is initialised.
static inline int studysync_sqlite_disable_memory_statistics(void) {
    return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}
