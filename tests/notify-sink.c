/* SPDX-License-Identifier: MIT */
/*
 * notify-sink.c: a notification server for the tests (tests/test-desktop.c): on the session bus
 * of DBUS_SESSION_BUS_ADDRESS it owns org.freedesktop.Notifications, and for each Notify call
 * appends one line to FILE:
 *
 *   app_name TAB replaces_id TAB app_icon TAB summary TAB body TAB actions TAB category TAB
 *   expire_timeout LF
 *
 * with backslash, tab and newline in the strings written as \\, \t and \n, so that a line is one
 * call; then it answers with the notification's id (replaces_id if not 0, else 1, 2, ...).
 * GetCapabilities and GetServerInformation answer too.  It prints "ready" on stdout once it owns
 * the name (the test waits for that line, not for time) and runs until the bus goes away or
 * SIGTERM.
 *
 *   notify-sink FILE
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <systemd/sd-bus.h>

static const char *out_path;
static uint32_t next_id = 1;

/* Append s to b (size n) as it is; returns the new length. */
static size_t raw(char *b, size_t len, size_t n, const char *s) {
        for (; s && *s && len + 2 < n; s++)
                b[len++] = *s;
        b[len] = 0;
        return len;
}

/* Append s to b (size n) with \\, \t, \n escaped; returns the new length. */
static size_t put(char *b, size_t len, size_t n, const char *s) {
        for (; s && *s && len + 3 < n; s++) {
                if (*s == '\\' || *s == '\t' || *s == '\n') {
                        b[len++] = '\\';
                        b[len++] = *s == '\t' ? 't' : *s == '\n' ? 'n' : '\\';
                } else
                        b[len++] = *s;
        }
        b[len] = 0;
        return len;
}

static int method_notify(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *app = NULL, *icon = NULL, *summary = NULL, *body = NULL, *category = "";
        uint32_t replaces = 0, id;
        int32_t timeout = 0;
        unsigned actions = 0;
        char line[16384], num[64];
        size_t len = 0;
        int r, fd;

        (void) userdata;
        (void) error;
        r = sd_bus_message_read(m, "susss", &app, &replaces, &icon, &summary, &body);
        if (r < 0)
                return r;
        r = sd_bus_message_enter_container(m, 'a', "s");
        if (r < 0)
                return r;
        for (const char *a; (r = sd_bus_message_read(m, "s", &a)) > 0;)
                actions++;
        if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0)
                return r;
        r = sd_bus_message_enter_container(m, 'a', "{sv}");
        if (r < 0)
                return r;
        while ((r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
                const char *key, *contents;
                char type;

                r = sd_bus_message_read(m, "s", &key);
                if (r < 0)
                        return r;
                r = sd_bus_message_peek_type(m, &type, &contents);
                if (r < 0)
                        return r;
                if (strcmp(key, "category") == 0 && strcmp(contents, "s") == 0)
                        r = sd_bus_message_read(m, "v", "s", &category);
                else
                        r = sd_bus_message_skip(m, "v");
                if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0)
                        return r;
        }
        if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0)
                return r;
        r = sd_bus_message_read(m, "i", &timeout);
        if (r < 0)
                return r;

        id = replaces ? replaces : next_id++;
        len = put(line, len, sizeof(line), app);
        (void) snprintf(num, sizeof(num), "\t%" PRIu32 "\t", replaces);
        len = raw(line, len, sizeof(line), num);
        len = put(line, len, sizeof(line), icon);
        len = raw(line, len, sizeof(line), "\t");
        len = put(line, len, sizeof(line), summary);
        len = raw(line, len, sizeof(line), "\t");
        len = put(line, len, sizeof(line), body);
        (void) snprintf(num, sizeof(num), "\t%u\t", actions);
        len = raw(line, len, sizeof(line), num);
        len = put(line, len, sizeof(line), category);
        (void) snprintf(num, sizeof(num), "\t%" PRIi32, timeout);
        len = raw(line, len, sizeof(line), num);
        line[len++] = '\n';

        /* One write(2) per call with O_APPEND: a reader sees whole lines only. */
        fd = open(out_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (fd < 0 || write(fd, line, len) != (ssize_t) len) {
                perror(out_path);
                exit(EXIT_FAILURE);
        }
        (void) close(fd);
        return sd_bus_reply_method_return(m, "u", id);
}

static int method_caps(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        (void) userdata;
        (void) error;
        return sd_bus_reply_method_return(m, "as", 2, "body", "body-markup");
}

static int method_info(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        (void) userdata;
        (void) error;
        return sd_bus_reply_method_return(m, "ssss", "notify-sink", "imapidled tests", "1", "1.2");
}

static const sd_bus_vtable vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_METHOD("Notify", "susssasa{sv}i", "u", method_notify, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("GetCapabilities", "", "as", method_caps, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD("GetServerInformation", "", "ssss", method_info, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_VTABLE_END,
};

int main(int argc, char **argv) {
        sd_bus *bus = NULL;
        int r;

        if (argc != 2) {
                fprintf(stderr, "usage: %s FILE\n", argv[0]);
                return EXIT_FAILURE;
        }
        out_path = argv[1];
        r = sd_bus_open_user(&bus);
        if (r >= 0)
                r = sd_bus_add_object_vtable(bus, NULL, "/org/freedesktop/Notifications",
                                             "org.freedesktop.Notifications", vtable, NULL);
        if (r >= 0)
                r = sd_bus_request_name(bus, "org.freedesktop.Notifications", 0);
        if (r < 0) {
                fprintf(stderr, "notify-sink: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        printf("ready\n");
        (void) fflush(stdout);
        for (;;) {
                r = sd_bus_process(bus, NULL);
                if (r < 0)
                        break;          /* the bus went away: the test is over */
                if (r > 0)
                        continue;
                r = sd_bus_wait(bus, UINT64_MAX);
                if (r < 0)
                        break;
        }
        sd_bus_flush_close_unref(bus);
        return EXIT_SUCCESS;
}
