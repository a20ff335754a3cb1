/* SPDX-License-Identifier: MIT */
/*
 * control.h: the control socket behind `imapidled status` (issue 13): an AF_UNIX stream
 * socket only its owner can use, the daemon's end and the command's end.
 *
 * Where (control_default_path()): $RUNTIME_DIRECTORY/control when systemd gives the service
 * a RuntimeDirectory= (the units in systemd/), else $XDG_RUNTIME_DIR/imapidled/control, else, as
 * root, /run/imapidled/control; --control-socket=PATH overrides both ends.
 *
 * The protocol: the client sends one line, "status" or "status json"; the daemon answers
 * with the report (status.h) and closes.  An answer that starts with "error: " is a refusal.
 *
 * The daemon's end never blocks its loop: the socket and every client are non-blocking, the
 * reply is built when the request is in and written as the client reads it (EPOLLOUT), at
 * most CONTROL_MAX_CLIENTS clients are served at once (the others are closed at once),
 * and a client that neither sends nor reads for CONTROL_CLIENT_TIMEOUT_USEC is closed.
 * Only a peer with the daemon's uid, or root, is served (SO_PEERCRED), on top of the
 * socket's mode 0600.
 */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "buf.h"
#include "macro.h"
#include "status.h"
#include "time-util.h"

#define CONTROL_MAX_CLIENTS 8U
#define CONTROL_CLIENT_TIMEOUT_USEC (10 * USEC_PER_SEC)
/* The longest request line, "\n" included. */
#define CONTROL_REQUEST_MAX 64U

/* The system service's socket (RuntimeDirectory=imapidled), and root's default. */
#define CONTROL_SYSTEM_PATH "/run/imapidled/control"

/* The exit status of `imapidled status` when no daemon listens (systemctl status's
 * convention: "not running"). */
#define CONTROL_EXIT_NOT_RUNNING 3

typedef struct Control Control;

/* Build the report in out (appending); < 0 on failure (the client gets an error line). */
typedef int (*ControlReportFn)(StatusFormat f, Buf *out, void *userdata);

/* The socket path when --control-socket is not given, into *ret (to free): -ENXIO when there
 * is none (neither variable set, not root).  Nothing is created. */
int control_default_path(char **ret);

/* Listen at path.  create_dir: the parent directory is made (mode 0700) if missing (the
 * default paths outside systemd).  A socket file there that nobody listens on (a crashed
 * run's) is replaced; a live one fails with -EADDRINUSE, any other file with -EEXIST.  The
 * socket file is made with mode 0600 and removed by control_free(). */
int control_new(sd_event *e, const char *path, bool create_dir, ControlReportFn fn, void *userdata, Control **ret);
Control *control_free(Control *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Control *, control_free);

/* `imapidled status [--json]`: ask the daemon at path, copy the answer to stdout.  Returns
 * the exit status: 0, CONTROL_EXIT_NOT_RUNNING (no socket, or nobody listening: not logged,
 * the caller may try another path), or 1 (any other failure, logged). */
int control_client(const char *path, bool json);
