/*
 * sdnotify: READY=1 and WATCHDOG=1 reach $NOTIFY_SOCKET (a real datagram
 * socket, as systemd's); the watchdog period is half of WATCHDOG_USEC, and
 * nothing is sent when systemd asked another pid (WATCHDOG_PID) or nothing.
 */
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "daemon.h"

static int nfd = -1;
static char npath[108];

static void
notify_setup(void)
{
	struct sockaddr_un sun;
	struct timeval tv = {0, 200000};

	snprintf(npath, sizeof(npath), "/tmp/check_sdnotify.%d", (int)getpid());
	unlink(npath);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", npath);
	ck_assert_int_ne(nfd = socket(AF_UNIX, SOCK_DGRAM, 0), -1);
	ck_assert_int_eq(bind(nfd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	setsockopt(nfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setenv("NOTIFY_SOCKET", npath, 1);
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

static void
notify_teardown(void)
{
	close(nfd);
	unlink(npath);
}

/* the next datagram, "" when none came */
static const char *
received(void)
{
	static char buf[512];
	ssize_t n = recv(nfd, buf, sizeof(buf) - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

START_TEST(test_ready)
{
	sd_notify_ready("running");
	ck_assert_str_eq(received(), "READY=1\nSTATUS=running");
}
END_TEST

START_TEST(test_watchdog)
{
	char pid[16];

	setenv("WATCHDOG_USEC", "3000000", 1);
	ck_assert(sd_watchdog_period() > 1.49 && sd_watchdog_period() < 1.51);
	sd_notify_watchdog();
	ck_assert_str_eq(received(), "WATCHDOG=1");
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	sd_notify_watchdog();
	ck_assert_str_eq(received(), "WATCHDOG=1");
}
END_TEST

START_TEST(test_watchdog_not_ours)
{
	char pid[16];

	sd_notify_watchdog(); /* no WatchdogSec= */
	ck_assert_str_eq(received(), "");
	ck_assert(sd_watchdog_period() == 0);
	setenv("WATCHDOG_USEC", "3000000", 1);
	snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1); /* asked of another process */
	sd_notify_watchdog();
	ck_assert_str_eq(received(), "");
	ck_assert(sd_watchdog_period() == 0);
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "soon", 1);
	ck_assert(sd_watchdog_period() == 0);
}
END_TEST

static Suite *
sdnotify_suite(void)
{
	Suite *s = suite_create("sdnotify");
	TCase *tc = tcase_create("sdnotify");

	tcase_add_checked_fixture(tc, notify_setup, notify_teardown);
	tcase_add_test(tc, test_ready);
	tcase_add_test(tc, test_watchdog);
	tcase_add_test(tc, test_watchdog_not_ours);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sdnotify_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
