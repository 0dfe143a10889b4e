// libpq's client header. pkg-config (libpq.pc) adds -I/usr/include/postgresql; without pkg-config the Debian and
// Ubuntu layout (libpq-dev) puts it under postgresql/ in the default include path.
#if __has_include(<libpq-fe.h>)
#include <libpq-fe.h>
#elif __has_include(<postgresql/libpq-fe.h>)
#include <postgresql/libpq-fe.h>
#else
#error "libpq-fe.h not found: install libpq-dev (apt-get install libpq-dev)"
#endif
