/* SPDX-License-Identifier: MIT */
/*
 * stamp-raw.c: bench/stamp without the C library, for bench/hotpath.sh on
 * x86-64.  Same arguments and the same line as bench/stamp.c:
 *
 *     stamp-raw FILE [ID]   ->   <CLOCK_REALTIME ns> <CLOCK_MONOTONIC ns> <pid> -
 *
 * (the ID is not used: hotpath.sh does not need it).  Why: a static glibc
 * program spends about 0.7-1 ms on this project's virtual machine between its
 * exec and main() (glibc's start-up, CPU feature probing among it, which
 * traps to the hypervisor), and while it does so on the daemon's CPU the
 * daemon waits to run again.  Without the C library, the time from exec to
 * the clock reading is about 50 µs, so "EXISTS written -> main()" measures
 * the daemon and the exec, not glibc's start-up.  Built on demand (make
 * bench/stamp-raw) with -nostdlib; only x86-64 is written here, and
 * hotpath.sh uses bench/stamp elsewhere.
 */
#include <fcntl.h>
#include <sys/syscall.h>
#include <time.h>

#if defined(__x86_64__)

static long sys3(long n, long a, long b, long c) {
        long r;

        __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
        return r;
}

/* Decimal digits of v ending at e, at least width of them; returns the first. */
static char *digits(char *e, unsigned long long v, int width) {
        int k = 0;

        do {
                *--e = (char) ('0' + v % 10);
                v /= 10;
                k++;
        } while (v > 0 || k < width);
        return e;
}

void stamp_main(long *sp);

/* The kernel's initial stack: argc, then argv[] (System V AMD64 ABI, §3.4.1). */
__attribute__((used, noreturn)) void stamp_main(long *sp) {
        struct timespec mono, rt;
        long argc = sp[0], fd;
        char **argv = (char **) (sp + 1);
        char line[128], *e = line + sizeof(line);

        (void) sys3(SYS_clock_gettime, CLOCK_MONOTONIC, (long) &mono, 0);
        (void) sys3(SYS_clock_gettime, CLOCK_REALTIME, (long) &rt, 0);
        if (argc < 2)
                (void) sys3(SYS_exit, 2, 0, 0);
        *--e = '\n';
        *--e = '-';
        *--e = ' ';
        e = digits(e, (unsigned long long) sys3(SYS_getpid, 0, 0, 0), 1);
        *--e = ' ';
        e = digits(e, (unsigned long long) mono.tv_nsec, 9);
        e = digits(e, (unsigned long long) mono.tv_sec, 1);
        *--e = ' ';
        e = digits(e, (unsigned long long) rt.tv_nsec, 9);
        e = digits(e, (unsigned long long) rt.tv_sec, 1);
        fd = sys3(SYS_open, (long) argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0)
                (void) sys3(SYS_exit, 1, 0, 0);
        (void) sys3(SYS_write, fd, (long) e, (long) (line + sizeof(line) - e));
        (void) sys3(SYS_exit, 0, 0, 0);
        __builtin_unreachable();
}

__asm__(".globl _start\n"
        "_start:\n"
        "        mov %rsp, %rdi\n"
        "        and $-16, %rsp\n"
        "        call stamp_main\n"
        "        hlt\n");

#else
#error "bench/stamp-raw.c is written for x86-64 only; bench/hotpath.sh uses bench/stamp elsewhere"
#endif
