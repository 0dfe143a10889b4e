#include "czstd.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

// The few libzstd entry points used, with the types of its stable ABI (zstd.h, "stable API").
typedef struct { const void *src; size_t size; size_t pos; } zstd_in;
typedef struct { void *dst; size_t size; size_t pos; } zstd_out;

static struct {
    size_t (*compress_bound)(size_t);
    unsigned (*is_error)(size_t);
    void *(*create_cctx)(void);
    size_t (*free_cctx)(void *);
    size_t (*compress_cctx)(void *, void *, size_t, const void *, size_t, int);
    void *(*create_dctx)(void);
    size_t (*free_dctx)(void *);
    size_t (*reset_dctx)(void *, int);
    size_t (*decompress_stream)(void *, zstd_out *, zstd_in *);
} zstd;

static int loaded;
static pthread_once_t once = PTHREAD_ONCE_INIT;
// One context of each kind per thread, kept (making one allocates its tables, which costs more than a small body) and
// freed when the thread ends.
static pthread_key_t cctx_key, dctx_key;

static void free_cctx(void *context) { zstd.free_cctx(context); }
static void free_dctx(void *context) { zstd.free_dctx(context); }

static void load(void) {
    void *library = dlopen("libzstd.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!library) return;
    zstd.compress_bound = (size_t (*)(size_t))dlsym(library, "ZSTD_compressBound");
    zstd.is_error = (unsigned (*)(size_t))dlsym(library, "ZSTD_isError");
    zstd.create_cctx = (void *(*)(void))dlsym(library, "ZSTD_createCCtx");
    zstd.free_cctx = (size_t (*)(void *))dlsym(library, "ZSTD_freeCCtx");
    zstd.free_dctx = (size_t (*)(void *))dlsym(library, "ZSTD_freeDCtx");
    zstd.compress_cctx = (size_t (*)(void *, void *, size_t, const void *, size_t, int))dlsym(library, "ZSTD_compressCCtx");
    zstd.create_dctx = (void *(*)(void))dlsym(library, "ZSTD_createDCtx");
    zstd.reset_dctx = (size_t (*)(void *, int))dlsym(library, "ZSTD_DCtx_reset");
    zstd.decompress_stream = (size_t (*)(void *, zstd_out *, zstd_in *))dlsym(library, "ZSTD_decompressStream");
    loaded = zstd.compress_bound && zstd.is_error && zstd.create_cctx && zstd.free_cctx && zstd.compress_cctx && zstd.create_dctx
        && zstd.free_dctx && zstd.reset_dctx && zstd.decompress_stream
        && pthread_key_create(&cctx_key, free_cctx) == 0 && pthread_key_create(&dctx_key, free_dctx) == 0;
}

int czstd_available(void) {
    pthread_once(&once, load);
    return loaded;
}

// This thread's context of a kind, made on first use.
static void *context(pthread_key_t key, void *(*create)(void), void (*destroy)(void *)) {
    void *made = pthread_getspecific(key);
    if (!made && (made = create()) && pthread_setspecific(key, made) != 0) {
        destroy(made);
        return NULL;
    }
    return made;
}

size_t czstd_compress_bound(size_t size) { return czstd_available() ? zstd.compress_bound(size) : 0; }

size_t czstd_compress(void *dst, size_t capacity, const void *src, size_t size, int level) {
    if (!czstd_available()) return 0;
    void *cctx = context(cctx_key, zstd.create_cctx, free_cctx);
    if (!cctx) return 0;
    size_t written = zstd.compress_cctx(cctx, dst, capacity, src, size, level);
    return zstd.is_error(written) ? 0 : written;
}

long czstd_decompress(const void *src, size_t size, size_t limit, void **out) {
    *out = NULL;
    if (!czstd_available()) return CZSTD_UNAVAILABLE;
    void *dctx = context(dctx_key, zstd.create_dctx, free_dctx);
    if (!dctx) return CZSTD_UNAVAILABLE;
    zstd.reset_dctx(dctx, 1 /* ZSTD_reset_session_only */);
    // Grows as the output does, never past limit + 1 bytes: one byte more than allowed is how "too large" is seen.
    size_t capacity = size * 4 < 65536 ? 65536 : size * 4;
    if (capacity > limit + 1) capacity = limit + 1;
    char *buffer = malloc(capacity);
    if (!buffer) return CZSTD_TOO_LARGE;
    zstd_in in = {src, size, 0};
    zstd_out output = {buffer, capacity, 0};
    size_t hint = 1;
    while (in.pos < in.size || hint != 0) {
        if (output.pos == output.size) {
            if (output.size > limit) { free(buffer); return CZSTD_TOO_LARGE; }
            size_t grown = output.size * 2 > limit + 1 ? limit + 1 : output.size * 2;
            char *larger = realloc(buffer, grown);
            if (!larger) { free(buffer); return CZSTD_TOO_LARGE; }
            buffer = larger;
            output.dst = buffer;
            output.size = grown;
        }
        size_t before_in = in.pos, before_out = output.pos;
        hint = zstd.decompress_stream(dctx, &output, &in);
        if (zstd.is_error(hint)) { free(buffer); return CZSTD_MALFORMED; }
        // A frame cut short: no input left, no output made, and the decoder still waits for more.
        if (in.pos == in.size && hint != 0 && before_in == in.pos && before_out == output.pos && output.pos < output.size) {
            free(buffer);
            return CZSTD_MALFORMED;
        }
    }
    if (output.pos > limit) { free(buffer); return CZSTD_TOO_LARGE; }
    *out = buffer;
    return (long)output.pos;
}
