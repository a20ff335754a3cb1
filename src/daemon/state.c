/* SPDX-License-Identifier: MIT */
/*
 * state.c: the per-account state files; see state.h for the contract and
 * docs/STATE.md for the format.  A set is a sorted array (names in byte
 * order), which gives lookups by binary search, duplicate detection while
 * parsing, and a deterministic file.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "state.h"

#define STATE_HEADER "imapidled-state "
#define STATE_VERSION "1"
#define STATE_SUFFIX ".state"
#define STATE_FIELDS 6          /* name uidvalidity uidnext exists highestmodseq updated */
#define MODSEQ_MAX ((uint64_t) INT64_MAX)

struct StateDir {
        char *path;
};

typedef struct StateEntry {
        char *name;
        MailboxState st;
} StateEntry;

struct StateSet {
        StateEntry *entries;    /* sorted by strcmp() of name, no duplicates */
        size_t n, cap;
};

/* ---- directory -------------------------------------------------------------------------------- */

/* A usable value of an environment variable: set, non-empty and absolute. */
static const char *env_path(const char *name) {
        const char *v = getenv(name);

        return v && v[0] == '/' ? v : NULL;
}

static int path_from_env(char **ret) {
        const char *v;
        char *p;

        if ((v = env_path("STATE_DIRECTORY"))) {
                /* systemd lists one entry per StateDirectory= path, separated by ':'. */
                p = strndup(v, strcspn(v, ":"));
                if (!p)
                        return -ENOMEM;
        } else if ((v = env_path("XDG_STATE_HOME"))) {
                if (asprintf(&p, "%s/imapidled", v) < 0)
                        return -ENOMEM;
        } else if ((v = env_path("HOME"))) {
                if (asprintf(&p, "%s/.local/state/imapidled", v) < 0)
                        return -ENOMEM;
        } else
                return -ENXIO;
        *ret = p;
        return 0;
}

/* mkdir -p with mode 0700 for what is created; existing directories keep their mode. */
static int mkdir_parents(char *path) {
        struct stat st;

        for (char *s = strchr(path + 1, '/');; s = strchr(s + 1, '/')) {
                int r = 0;

                if (s)
                        *s = 0;
                if (mkdir(path, 0700) < 0 && errno != EEXIST)
                        r = -errno;
                if (s)
                        *s = '/';
                if (r < 0)
                        return r;
                if (!s)
                        break;
        }
        if (stat(path, &st) < 0)
                return -errno;
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int state_dir_open(const char *path, StateDir **ret) {
        _cleanup_free_ char *p = NULL;
        StateDir *d;
        size_t len;
        int r;

        assert_return(ret, -EINVAL);

        if (path) {
                assert_return(path[0] == '/', -EINVAL);
                p = strdup(path);
                if (!p)
                        return -ENOMEM;
        } else {
                r = path_from_env(&p);
                if (r < 0)
                        return r;
        }
        /* "/a/b/" -> "/a/b", so that file names do not come out as "/a/b//x.state". */
        len = strlen(p);
        while (len > 1 && p[len - 1] == '/')
                p[--len] = 0;

        r = mkdir_parents(p);
        if (r < 0)
                return r;

        d = calloc(1, sizeof(StateDir));
        if (!d)
                return -ENOMEM;
        d->path = TAKE_PTR(p);
        *ret = d;
        return 0;
}

StateDir *state_dir_free(StateDir *d) {
        if (!d)
                return NULL;
        free(d->path);
        return mfree(d);
}

const char *state_dir_path(const StateDir *d) {
        return d ? d->path : NULL;
}

/* Account names come from the configuration ([A-Za-z0-9._-]+, cfg.c), which makes them safe as
 * file names; checked again here because they become paths. */
static int account_check(const char *account) {
        size_t n;

        if (!account || !account[0])
                return -EINVAL;
        n = strlen(account);
        if (strspn(account, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != n)
                return -EINVAL;
        return n > STATE_MAX_ACCOUNT ? -ENAMETOOLONG : 0;
}

/* "<dir>/<prefix><account>.state<suffix>" */
static int account_path(const StateDir *d, const char *prefix, const char *account, const char *suffix,
                        char **ret) {
        int r = account_check(account);

        if (r < 0)
                return r;
        if (asprintf(ret, "%s/%s%s%s%s", d->path, prefix, account, STATE_SUFFIX, suffix) < 0)
                return -ENOMEM;
        return 0;
}

/* ---- the set ---------------------------------------------------------------------------------- */

int state_set_new(StateSet **ret) {
        StateSet *s;

        assert_return(ret, -EINVAL);
        s = calloc(1, sizeof(StateSet));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

StateSet *state_set_free(StateSet *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < s->n; i++)
                free(s->entries[i].name);
        free(s->entries);
        return mfree(s);
}

size_t state_set_size(const StateSet *s) {
        return s ? s->n : 0;
}

int state_set_entry(const StateSet *s, size_t i, const char **ret_name, MailboxState *ret) {
        assert_return(s && i < s->n, -EINVAL);
        if (ret_name)
                *ret_name = s->entries[i].name;
        if (ret)
                *ret = s->entries[i].st;
        return 0;
}

/* Binary search: true if found; *ret_pos is the entry's index or where it would go. */
static bool set_find(const StateSet *s, const char *name, size_t *ret_pos) {
        size_t lo = 0, hi = s->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = strcmp(name, s->entries[mid].name);

                if (c == 0) {
                        *ret_pos = mid;
                        return true;
                }
                if (c < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        *ret_pos = lo;
        return false;
}

/* Insert at pos; takes ownership of name on success only. */
static int set_insert(StateSet *s, size_t pos, char *name, const MailboxState *st) {
        if (s->n >= STATE_MAX_MAILBOXES)
                return -EMSGSIZE;
        if (s->n == s->cap) {
                /* Most accounts watch one mailbox or a few, and ten thousand accounts keep
                 * their sets in memory: start at one entry. */
                size_t cap = s->cap ? s->cap * 2 : 1;
                StateEntry *e = reallocarray(s->entries, cap, sizeof(StateEntry));

                if (!e)
                        return -ENOMEM;
                s->entries = e;
                s->cap = cap;
        }
        memmove(s->entries + pos + 1, s->entries + pos, (s->n - pos) * sizeof(StateEntry));
        s->entries[pos] = (StateEntry) { .name = name, .st = *st };
        s->n++;
        return 0;
}

bool state_get(const StateSet *s, const char *mailbox, MailboxState *ret) {
        size_t pos;

        if (!s || !mailbox || !set_find(s, mailbox, &pos))
                return false;
        if (ret)
                *ret = s->entries[pos].st;
        return true;
}

static usec_t now_realtime(void) {
        struct timespec ts;

        if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
                return 0;
        return (usec_t) ts.tv_sec * USEC_PER_SEC + (usec_t) ts.tv_nsec / 1000;
}

int state_put(StateSet *s, const char *mailbox, const MailboxState *st) {
        _cleanup_free_ char *name = NULL;
        MailboxState v;
        size_t pos;
        int r;

        assert_return(s && mailbox && st, -EINVAL);

        if (!mailbox[0] || st->uidvalidity == 0)
                return -EINVAL;
        if (strlen(mailbox) > STATE_MAX_NAME)
                return -EMSGSIZE;
        if (st->highestmodseq > MODSEQ_MAX)
                return -ERANGE;

        v = *st;
        if (v.updated == 0)
                v.updated = now_realtime();
        if (set_find(s, mailbox, &pos)) {
                s->entries[pos].st = v;
                return 0;
        }
        name = strdup(mailbox);
        if (!name)
                return -ENOMEM;
        r = set_insert(s, pos, name, &v);
        if (r < 0)
                return r;
        TAKE_PTR(name);
        return 0;
}

int state_forget(StateSet *s, const char *mailbox) {
        size_t pos;

        assert_return(s && mailbox, -EINVAL);
        if (!set_find(s, mailbox, &pos))
                return 0;
        free(s->entries[pos].name);
        memmove(s->entries + pos, s->entries + pos + 1, (s->n - pos - 1) * sizeof(StateEntry));
        s->n--;
        return 1;
}

/* ---- the format ------------------------------------------------------------------------------- */

/* Bytes written as %XX: space and controls (they would split or break the line), DEL, and '%'
 * itself.  Everything else, UTF-8 included, is written as is, so names stay readable. */
static bool name_byte_escaped(unsigned char c) {
        return c <= 0x20 || c == 0x7f || c == '%';
}

static int hex_digit(char c) {
        /* Upper case only: one spelling per byte keeps the format canonical. */
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

static int name_unescape(const char *p, size_t len, char **ret, const char **reterr_reason) {
        _cleanup_free_ char *name = NULL;
        size_t n = 0;

        if (len == 0) {
                *reterr_reason = "empty mailbox name";
                return -EBADMSG;
        }
        name = malloc(MIN(len, (size_t) STATE_MAX_NAME) + 1);
        if (!name)
                return -ENOMEM;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) p[i];

                if (c == '%') {
                        int hi = i + 2 < len ? hex_digit(p[i + 1]) : -1;
                        int lo = hi >= 0 ? hex_digit(p[i + 2]) : -1;

                        if (lo < 0) {
                                *reterr_reason = "bad %XX escape in mailbox name";
                                return -EBADMSG;
                        }
                        c = (unsigned char) (hi << 4 | lo);
                        if (c == 0 || !name_byte_escaped(c)) {
                                *reterr_reason = "needless or NUL %XX escape in mailbox name";
                                return -EBADMSG;
                        }
                        i += 2;
                } else if (name_byte_escaped(c)) {
                        *reterr_reason = "control character in mailbox name";
                        return -EBADMSG;
                }
                if (n >= STATE_MAX_NAME) {
                        *reterr_reason = "mailbox name too long";
                        return -EMSGSIZE;
                }
                name[n++] = (char) c;
        }
        name[n] = 0;
        *ret = TAKE_PTR(name);
        return 0;
}

static bool all_digits(const char *p, size_t len) {
        for (size_t i = 0; i < len; i++)
                if (p[i] < '0' || p[i] > '9')
                        return false;
        return true;
}

/* Decimal, digits only, no sign, no leading zero, at most max. */
static int parse_number(const char *p, size_t len, uint64_t max, uint64_t *ret, const char **reterr_reason) {
        uint64_t v = 0;

        if (len == 0 || !all_digits(p, len)) {
                *reterr_reason = "not a number";
                return -EBADMSG;
        }
        if (len > 1 && p[0] == '0') {
                *reterr_reason = "number with a leading zero";
                return -EBADMSG;
        }
        for (size_t i = 0; i < len; i++) {
                unsigned d = (unsigned) (p[i] - '0');

                if (v > (max - d) / 10) {
                        *reterr_reason = "number out of range";
                        return -ERANGE;
                }
                v = v * 10 + d;
        }
        *ret = v;
        return 0;
}

/* One mailbox line: "<name> <uidvalidity> <uidnext> <exists> <highestmodseq> <updated>". */
static int parse_entry(StateSet *s, const char *p, size_t len, const char **reterr_reason) {
        static const uint64_t max[STATE_FIELDS] = {
                0, UINT32_MAX, UINT32_MAX, UINT32_MAX, MODSEQ_MAX, UINT64_MAX,
        };
        const char *field[STATE_FIELDS], *end = p + len;
        size_t flen[STATE_FIELDS], nf = 0, pos;
        uint64_t v[STATE_FIELDS] = {};
        _cleanup_free_ char *name = NULL;
        MailboxState st;
        int r;

        /* Exactly one space between fields: no empty field, nothing leading or trailing. */
        for (const char *f = p;;) {
                const char *sp = memchr(f, ' ', (size_t) (end - f));

                if (nf == STATE_FIELDS) {
                        *reterr_reason = "too many fields";
                        return -EBADMSG;
                }
                field[nf] = f;
                flen[nf++] = (size_t) ((sp ? sp : end) - f);
                if (!sp)
                        break;
                f = sp + 1;
        }
        if (nf != STATE_FIELDS) {
                *reterr_reason = "too few fields";
                return -EBADMSG;
        }
        for (size_t i = 1; i < STATE_FIELDS; i++) {
                r = parse_number(field[i], flen[i], max[i], &v[i], reterr_reason);
                if (r < 0)
                        return r;
        }
        if (v[1] == 0) {
                *reterr_reason = "UIDVALIDITY 0";
                return -EBADMSG;
        }
        r = name_unescape(field[0], flen[0], &name, reterr_reason);
        if (r < 0)
                return r;
        if (set_find(s, name, &pos)) {
                *reterr_reason = "mailbox listed twice";
                return -EBADMSG;
        }
        st = (MailboxState) {
                .uidvalidity = (uint32_t) v[1],
                .uidnext = (uint32_t) v[2],
                .exists = (uint32_t) v[3],
                .highestmodseq = v[4],
                .updated = v[5],
        };
        r = set_insert(s, pos, name, &st);
        if (r == -EMSGSIZE)
                *reterr_reason = "too many mailboxes";
        if (r < 0)
                return r;
        TAKE_PTR(name);
        return 0;
}

static int parse_fail(int r, unsigned line, const char *reason, unsigned *reterr_line,
                      const char **reterr_reason) {
        if (reterr_line)
                *reterr_line = line;
        if (reterr_reason)
                *reterr_reason = r == -ENOMEM ? "out of memory" : reason;
        return r;
}

static int parse_header(const char *p, size_t len, const char **reterr_reason) {
        size_t hl = strlen(STATE_HEADER);

        if (len == hl + strlen(STATE_VERSION) && memcmp(p, STATE_HEADER STATE_VERSION, len) == 0)
                return 0;
        if (len > hl && memcmp(p, STATE_HEADER, hl) == 0)
                *reterr_reason = "unsupported format version";
        else
                *reterr_reason = "not an imapidled state file";
        return -EBADMSG;
}

int state_parse(const void *data, size_t size, StateSet **ret, unsigned *reterr_line,
                const char **reterr_reason) {
        _cleanup_(state_set_freep) StateSet *s = NULL;
        const char *p, *end;
        unsigned line = 1;
        int r;

        assert_return(data || size == 0, -EINVAL);
        assert_return(ret, -EINVAL);

        if (size == 0)
                return parse_fail(-EBADMSG, 0, "empty file", reterr_line, reterr_reason);
        if (size > STATE_MAX_FILE)
                return parse_fail(-EMSGSIZE, 0, "file too large", reterr_line, reterr_reason);
        r = state_set_new(&s);
        if (r < 0)
                return parse_fail(r, 0, NULL, reterr_line, reterr_reason);

        p = data;
        end = p + size;
        for (; p < end; line++) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t len = (size_t) ((nl ? nl : end) - p);
                const char *reason = NULL;

                if (len > STATE_MAX_LINE)
                        return parse_fail(-EMSGSIZE, line, "line too long", reterr_line, reterr_reason);
                if (!nl)
                        return parse_fail(-EBADMSG, line, "truncated line (no newline at the end)",
                                          reterr_line, reterr_reason);
                r = line == 1 ? parse_header(p, len, &reason) : parse_entry(s, p, len, &reason);
                if (r < 0)
                        return parse_fail(r, line, reason, reterr_line, reterr_reason);
                p = nl + 1;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

int state_format(const StateSet *s, char **ret, size_t *ret_size) {
        static const char hex[] = "0123456789ABCDEF";
        _cleanup_(buf_done) Buf b = BUF_INIT;
        int r;

        assert_return(s && ret, -EINVAL);

        r = buf_append(&b, STATE_HEADER STATE_VERSION "\n", strlen(STATE_HEADER STATE_VERSION "\n"), 0);
        for (size_t i = 0; r >= 0 && i < s->n; i++) {
                const StateEntry *e = &s->entries[i];
                char num[128];
                int n;

                for (const char *c = e->name; r >= 0 && *c; c++) {
                        unsigned char u = (unsigned char) *c;

                        if (name_byte_escaped(u)) {
                                char esc[3] = { '%', hex[u >> 4], hex[u & 15] };

                                r = buf_append(&b, esc, sizeof(esc), 0);
                        } else
                                r = buf_append(&b, c, 1, 0);
                }
                if (r < 0)
                        break;
                n = snprintf(num, sizeof(num),
                             " %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu64 " %" PRIu64 "\n",
                             e->st.uidvalidity, e->st.uidnext, e->st.exists, e->st.highestmodseq,
                             (uint64_t) e->st.updated);
                r = buf_append(&b, num, (size_t) n, 0);
        }
        if (r < 0)
                return r;
        b.data[b.len] = 0;      /* the spare byte Buf always keeps */
        if (ret_size)
                *ret_size = b.len;
        *ret = TAKE_PTR(b.data);
        return 0;
}

/* ---- files ------------------------------------------------------------------------------------ */

/* Read a whole regular file; -EFBIG if it has more than STATE_MAX_FILE bytes, -EBADFD if it is
 * not a regular file. */
static int read_file(const char *path, char **ret, size_t *ret_size) {
        _cleanup_(buf_done) Buf b = BUF_INIT;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        /* O_NOFOLLOW: the directory is ours, and a symlink in it would be replaced by the next save
         * anyway.  O_NONBLOCK: a FIFO placed there must not hang the daemon. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        for (;;) {
                /* One byte more than allowed tells "too large" from "exactly at the limit". */
                size_t want = MIN((size_t) 65536, (size_t) STATE_MAX_FILE + 1 - b.len);
                ssize_t n;

                if (want == 0)
                        return -EFBIG;
                r = buf_reserve(&b, want, 0);
                if (r < 0)
                        return r;
                n = read(fd, b.data + b.len, want);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                b.len += (size_t) n;
        }
        *ret_size = b.len;
        *ret = TAKE_PTR(b.data);
        return 0;
}

int state_load(StateDir *d, const char *account, StateSet **ret) {
        _cleanup_free_ char *path = NULL, *data = NULL;
        const char *reason = NULL;
        unsigned line = 0;
        size_t size = 0;
        int r;

        assert_return(d && ret, -EINVAL);

        r = account_path(d, "", account, "", &path);
        if (r < 0)
                return r;
        r = read_file(path, &data, &size);
        if (r == -ENOENT)
                return state_set_new(ret);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                if (r == -EFBIG)
                        log_warning("State file %s: larger than %u bytes, ignoring it and starting fresh",
                                    path, STATE_MAX_FILE);
                else if (r == -EBADFD)
                        log_warning("State file %s: not a regular file, ignoring it and starting fresh",
                                    path);
                else
                        log_warning_errno(r, "State file %s: cannot read it: %m, "
                                          "ignoring it and starting fresh", path);
                return state_set_new(ret);
        }

        r = state_parse(data ? data : "", size, ret, &line, &reason);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                if (line > 0)
                        log_warning("State file %s:%u: %s, ignoring it and starting fresh",
                                    path, line, reason);
                else
                        log_warning("State file %s: %s, ignoring it and starting fresh", path, reason);
                return state_set_new(ret);
        }
        return 0;
}

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static int fsync_dir(const char *path) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return -errno;
        return fsync(fd) < 0 ? -errno : 0;
}

/* Write s into a new temp file next to the account's file; *ret_tmp names it.
 * With sync, the file is fsync()ed before it is closed. */
static int write_temp(StateDir *d, const char *account, const StateSet *s, bool sync, char **ret_tmp) {
        _cleanup_free_ char *tmp = NULL, *text = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t size;
        int r;

        r = account_path(d, ".", account, ".XXXXXX", &tmp);
        if (r < 0)
                return r;
        r = state_format(s, &text, &size);
        if (r < 0)
                return r;
        /* mkostemp() opens with O_CREAT|O_EXCL and mode 0600: a new file that nobody else has open
         * or has replaced with a symlink, readable by us only whatever the old file's mode. */
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = write_all(fd, text, size);
        if (r >= 0 && sync && fsync(fd) < 0)
                r = -errno;
        /* close() reports delayed write errors on some file systems (NFS). */
        if (close(TAKE_FD(fd)) < 0 && r >= 0)
                r = -errno;
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        *ret_tmp = TAKE_PTR(tmp);
        return 0;
}

static int rename_into_place(StateDir *d, const char *account, char *tmp) {
        _cleanup_free_ char *path = NULL;
        int r;

        r = account_path(d, "", account, "", &path);
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

int state_save(StateDir *d, const char *account, const StateSet *s) {
        _cleanup_free_ char *tmp = NULL;
        int r;

        assert_return(d && s, -EINVAL);

        r = write_temp(d, account, s, /* sync= */ true, &tmp);
        if (r < 0)
                return r;
        r = rename_into_place(d, account, tmp);
        if (r < 0)
                return r;
        /* Make the rename itself durable. */
        return fsync_dir(d->path);
}

int state_save_many(StateDir *d, size_t n, const char *const *accounts, const StateSet *const *sets, int *ret_errors) {
        _cleanup_close_ int dfd = -EBADF;
        char **tmp;
        int r, failed = 0;

        assert_return(d && (n == 0 || (accounts && sets && ret_errors)), -EINVAL);

        if (n == 0)
                return 0;
        tmp = calloc(n, sizeof(char *));
        if (!tmp)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                ret_errors[i] = write_temp(d, accounts[i], sets[i], /* sync= */ false, &tmp[i]);
                failed += ret_errors[i] < 0;
        }
        /* One flush for all the new files instead of one fsync() each: the order
         * "data durable, then rename" is kept for every file. */
        dfd = open(d->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        r = dfd < 0 ? -errno : syncfs(dfd) < 0 ? -errno : 0;
        for (size_t i = 0; i < n; i++) {
                if (!tmp[i])
                        continue;
                if (r < 0) {
                        (void) unlink(tmp[i]);
                        ret_errors[i] = r;
                        failed++;
                } else if ((ret_errors[i] = rename_into_place(d, accounts[i], tmp[i])) < 0)
                        failed++;
                free(tmp[i]);
        }
        free(tmp);
        if (r >= 0 && dfd >= 0 && fsync(dfd) < 0)
                r = -errno;
        return r < 0 ? r : failed;
}

int state_remove(StateDir *d, const char *account) {
        _cleanup_free_ char *path = NULL;
        int r;

        assert_return(d, -EINVAL);

        r = account_path(d, "", account, "", &path);
        if (r < 0)
                return r;
        if (unlink(path) < 0)
                return errno == ENOENT ? 0 : -errno;
        return fsync_dir(d->path);
}
