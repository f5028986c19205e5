// SPDX-License-Identifier: MIT
/*
 * shmring watch: one ring's occupancy as a bar, with push and pop rates and
 * waiters, refreshed in place on a terminal (one line per refresh
 * otherwise). The line always fits the terminal: the bar shrinks first, then
 * the waiters, then the rates go, and a name too long for what is left is
 * cut. SIGWINCH redraws at the new width at once.
 */
#include "tool.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define BAR_MIN 10
#define BAR_MAX 50

static volatile sig_atomic_t stop, resized;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static void on_winch(int sig)
{
	(void)sig;
	resized = 1;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Messages per second, "12.3M/s" style, into BUF. */
static const char *rate_str(char *buf, size_t len, double per_s)
{
	const char *unit = "";

	if (per_s >= 1e9) {
		per_s /= 1e9;
		unit = "G";
	} else if (per_s >= 1e6) {
		per_s /= 1e6;
		unit = "M";
	} else if (per_s >= 1e3) {
		per_s /= 1e3;
		unit = "K";
	}
	snprintf(buf, len, "%.*f%s/s", *unit ? 1 : 0, per_s, unit);
	return buf;
}

static int digits(size_t v)
{
	int n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

/* What one refresh shows. */
struct sample {
	struct shmring_info in;
	double dt; /* seconds the rates cover; 0: no rates yet */
	uint64_t pushed, popped;
};

/* Writes the line for S into BUF (at most WIDTH - 1 columns, so a terminal
 * never wraps it): NAME [#####.....] occupancy, rates, waiters. */
static void format_line(char *buf, size_t len, const char *name, const struct sample *s,
			int width)
{
	const struct shmring_info *in = &s->in;
	char in_rate[32] = "-", out_rate[32] = "-", tail[3][160];
	int name_len = (int)strlen(name), cols = width - 1;

	if (s->dt > 0) {
		rate_str(in_rate, sizeof(in_rate), (double)s->pushed / s->dt);
		rate_str(out_rate, sizeof(out_rate), (double)s->popped / s->dt);
	}
	/* The parts after the bar, from the most to the least complete. */
	snprintf(tail[0], sizeof(tail[0]),
		 "] %*zu/%zu %3u%%  in %8s  out %8s  waiting P%u C%u",
		 digits(in->capacity), in->pending, in->capacity,
		 tool_percent(in->pending, in->capacity), in_rate, out_rate,
		 in->producers_waiting, in->consumers_waiting);
	snprintf(tail[1], sizeof(tail[1]), "] %*zu/%zu %3u%%  in %8s  out %8s",
		 digits(in->capacity), in->pending, in->capacity,
		 tool_percent(in->pending, in->capacity), in_rate, out_rate);
	snprintf(tail[2], sizeof(tail[2]), "] %*zu/%zu %3u%%", digits(in->capacity),
		 in->pending, in->capacity, tool_percent(in->pending, in->capacity));
	for (int t = 0; t < 3; t++) {
		int bar = cols - name_len - 2 - (int)strlen(tail[t]), fill, off;

		if (bar < BAR_MIN && t < 2)
			continue;
		if (bar < BAR_MIN) { /* cut the name, then the bar, down to 3 */
			name_len -= BAR_MIN - bar;
			if (name_len < 1)
				name_len = 1;
			bar = cols - name_len - 2 - (int)strlen(tail[t]);
			if (bar < 3)
				bar = 3;
		}
		if (bar > BAR_MAX)
			bar = BAR_MAX;
		fill = in->capacity ?
			       (int)(((size_t)bar * in->pending + in->capacity / 2) /
				     in->capacity) :
			       0;
		off = snprintf(buf, len, "%.*s [", name_len, name);
		for (int c = 0; c < bar && off + 1 < (int)len; c++)
			buf[off++] = c < fill ? '#' : '.';
		snprintf(buf + off, len - (size_t)off, "%s", tail[t]);
		break;
	}
	/* Narrower than even that: the terminal gets what fits. */
	if (cols > 0 && (int)strlen(buf) > cols)
		buf[cols] = 0;
}

static void print_line(const char *name, const struct sample *s, int width, bool tty)
{
	char line[1024];

	format_line(line, sizeof(line), name, s, width);
	printf("%s%s%s", tty ? "\r\033[K" : "", line, tty ? "" : "\n");
	fflush(stdout);
}

/* The terminal's width, or FALLBACK when stdout is no terminal. */
static int term_width(bool tty, int fallback)
{
	struct winsize ws;

	if (tty && !ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) && ws.ws_col > 0)
		return ws.ws_col;
	return fallback;
}

/* Sleeps until DEADLINE; on SIGWINCH redraws LAST at the new width and
 * sleeps on. Returns early only when told to stop. */
static void sleep_until(uint64_t deadline, const char *name, const struct sample *last,
			int *width, bool tty, bool fixed_width)
{
	struct timespec ts = { (time_t)(deadline / 1000000000ull),
			       (long)(deadline % 1000000000ull) };

	while (!stop &&
	       clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
		if (resized && !stop) {
			resized = 0;
			if (!fixed_width)
				*width = term_width(tty, *width);
			if (tty)
				print_line(name, last, *width, tty);
		}
	}
}

int cmd_watch(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'n' },
		{ "width", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	long interval_ms = 200, count = 0, w = 0;
	bool tty = isatty(STDOUT_FILENO);
	struct sigaction sa = { .sa_handler = on_stop }, sw = { .sa_handler = on_winch };
	struct sample s = { 0 };
	struct shmring_info prev = { 0 };
	uint64_t t_prev = 0, next;
	const char *name;
	int opt, width;

	while ((opt = getopt_long(argc, argv, "i:n:w:h", opts, NULL)) != -1) {
		if (opt == 'h')
			return tool_usage("watch", true);
		if (opt == 'i' && tool_parse_long(optarg, 10, 3600000, &interval_ms))
			continue;
		if (opt == 'n' && tool_parse_long(optarg, 1, LONG_MAX, &count))
			continue;
		if (opt == 'w' && tool_parse_long(optarg, 20, 1000, &w))
			continue;
		return tool_usage("watch", false);
	}
	if (optind != argc - 1)
		return tool_usage("watch", false);
	name = argv[optind];
	/* Logs are wide; a terminal says its width. */
	width = w ? (int)w : term_width(tty, 100);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGWINCH, &sw, NULL);
	next = mono_ns();
	for (long i = 0; !stop && (!count || i < count); i++) {
		uint64_t now = mono_ns();

		s.in = (struct shmring_info){ .sz = sizeof(s.in) };
		if (shmring_stat(name, &s.in)) {
			int e = errno;

			if (tty)
				printf("\n");
			tool_stat_error(name, e);
			return 1;
		}
		/* Rates from the positions the header counts anyway: no probe. */
		s.dt = t_prev ? (double)(now - t_prev) / 1e9 : 0;
		s.pushed = s.in.pushed - prev.pushed;
		s.popped = s.in.popped - prev.popped;
		if (resized) {
			resized = 0;
			if (!w)
				width = term_width(tty, width);
		}
		print_line(name, &s, width, tty);
		t_prev = now;
		prev = s.in;
		next += (uint64_t)interval_ms * 1000000ull;
		if (!count || i + 1 < count)
			sleep_until(next, name, &s, &width, tty, w != 0);
	}
	if (tty)
		printf("\n");
	return 0;
}
