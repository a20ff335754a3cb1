/* SPDX-License-Identifier: MIT */
/*
 * macro.h: the small set of language helpers every layer uses: scope-bound
 * cleanup (_cleanup_), ownership hand-off (TAKE_PTR), array sizes, and the
 * trivial cleanup-function generator.  Written for this project after the
 * pattern of systemd's macro.h; nothing here is IMAP-, network- or
 * daemon-specific.
 */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _pure_ __attribute__((pure))
#define _const_ __attribute__((const))
#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _warn_unused_result_ __attribute__((warn_unused_result))
#define _noreturn_ __attribute__((noreturn))

/* Number of elements of a real array (not a pointer: the build fails on one). */
#define ELEMENTSOF(x)                                                                   \
        (__builtin_choose_expr(                                                         \
                !__builtin_types_compatible_p(typeof(x), typeof(&*(x))),                \
                sizeof(x) / sizeof((x)[0]),                                             \
                (void) 0))

/* Each argument is evaluated once. */
#define MIN(a, b)                                       \
        ({                                              \
                typeof(a) _min_a_ = (a);                \
                typeof(b) _min_b_ = (b);                \
                _min_a_ < _min_b_ ? _min_a_ : _min_b_;  \
        })
#define MAX(a, b)                                       \
        ({                                              \
                typeof(a) _max_a_ = (a);                \
                typeof(b) _max_b_ = (b);                \
                _max_a_ > _max_b_ ? _max_a_ : _max_b_;  \
        })

/* Return the value of a pointer variable and reset the variable to NULL, so a
 * _cleanup_ handler on it no longer fires: ownership moves to the caller. */
#define TAKE_PTR(p)                             \
        ({                                      \
                typeof(p) _ptr_ = (p);          \
                (p) = NULL;                     \
                _ptr_;                          \
        })

/* Same for file descriptors. */
#define TAKE_FD(fd)                             \
        ({                                      \
                int _fd_ = (fd);                \
                (fd) = -EBADF;                  \
                _fd_;                           \
        })

/* Define func##p(type *p), calling func(*p) when *p is set; for _cleanup_(). */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                 \
        static inline void func##p(type *p) {                   \
                if (*p)                                         \
                        func(*p);                               \
        }

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                (void) close(*fd);
                errno = saved;
        }
}
#define _cleanup_close_ _cleanup_(closep)

/* A programmer error in a public function's arguments: return r instead of
 * crashing.  Never used for anything a peer sent. */
#define assert_return(expr, r)                  \
        do {                                    \
                if (!(expr))                    \
                        return (r);             \
        } while (0)

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

/* True if x equals one of the following values. */
#define IN_SET(x, ...)                                                          \
        ({                                                                      \
                const typeof(x) _in_set_values_[] = { __VA_ARGS__ };            \
                bool _in_set_found_ = false;                                    \
                for (size_t _i_ = 0; _i_ < ELEMENTSOF(_in_set_values_); _i_++)  \
                        if (_in_set_values_[_i_] == (x)) {                      \
                                _in_set_found_ = true;                          \
                                break;                                          \
                        }                                                       \
                _in_set_found_;                                                 \
        })

/* explicit_bzero() that accepts NULL (glibc declares it nonnull). */
static inline void explicit_bzero_safe(void *p, size_t n) {
        if (p && n > 0)
                explicit_bzero(p, n);
}

/* free() that returns NULL, for "x = mfree(x);". */
static inline void *mfree(void *p) {
        free(p);
        return NULL;
}
