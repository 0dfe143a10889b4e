#if defined(__linux__)
#include <malloc.h>
#endif

// Caps the number of glibc malloc arenas (mallopt M_ARENA_MAX); does nothing where there is no such setting.
static inline int studysync_limit_malloc_arenas(int count) {
#if defined(M_ARENA_MAX)
    return mallopt(M_ARENA_MAX, count);
#else
    (void)count;
    return 0;
#endif
}
