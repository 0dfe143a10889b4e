#ifndef CZSTD_H
#define CZSTD_H

#include <stddef.h>

// Zstandard through the system's libzstd (libzstd.so.1, which every Debian and Ubuntu system has: dpkg itself uses it),
// opened at run time, so building needs no zstd headers. Where the library cannot be opened, czstd_available() is 0 and
// StudySync simply sends and accepts uncompressed bodies (compression is negotiated).

// 1 when libzstd could be opened.
int czstd_available(void);

// The most bytes czstd_compress can write for `size` input bytes; 0 when libzstd is unavailable.
size_t czstd_compress_bound(size_t size);

// Compresses `size` bytes at `level` into `dst` (at least czstd_compress_bound(size) bytes). Returns the compressed size,
// or 0 on failure.
size_t czstd_compress(void *dst, size_t capacity, const void *src, size_t size, int level);

// Decompresses the zstd frames in `src` into a buffer it allocates with malloc (*out; the caller frees it), writing
// at most `limit` bytes. Returns the decompressed size, or CZSTD_MALFORMED, CZSTD_TOO_LARGE (the output would pass
// `limit`: nothing past it was written) or CZSTD_UNAVAILABLE; *out is NULL on every failure.
#define CZSTD_MALFORMED (-1L)
#define CZSTD_TOO_LARGE (-2L)
#define CZSTD_UNAVAILABLE (-3L)
long czstd_decompress(const void *src, size_t size, size_t limit, void **out);

#endif
