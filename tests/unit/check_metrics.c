/*
 * metrics: label escaping, the sample bound, histograms (cumulative
 * buckets, sum, count) and the Prometheus text each metric renders to.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "metrics.h"

static char *
render(const struct em_samples *ss, const char *daemon, enum em_metric id)
{
	struct em_textbuf tb = {0};

	metrics_render_head(&tb, id);
	metrics_render(&tb, daemon, ss, id);
	return tb.p;
}

START_TEST(test_escape_and_render)
{
	struct em_samples ss = {0};
	char *t;

	ck_assert_int_eq(metrics_add(&ss, EM_M_PEER_TX, 1234, "peer", "we\"ird\\name\n", NULL), 0);
	ck_assert_int_eq(metrics_add(&ss, EM_M_PEER_RTT, 0.00025, "peer", "edge-2", NULL), 0);
	ck_assert_int_eq(metrics_add(&ss, EM_M_STATE_VERSION, 42, NULL), 0);
	t = render(&ss, "tunneld", EM_M_PEER_TX);
	ck_assert_str_eq(t, "# HELP edgemesh_peer_sent_bytes_total Bytes sent to the peer through "
			    "the tunnel\n# TYPE edgemesh_peer_sent_bytes_total counter\n"
			    "edgemesh_peer_sent_bytes_total{daemon=\"tunneld\",peer=\"we\\\"ird\\\\"
			    "name\\n\"} 1234\n");
	free(t);
	t = render(&ss, NULL, EM_M_PEER_RTT);
	ck_assert_ptr_nonnull(strstr(t, "\nedgemesh_peer_rtt_seconds{peer=\"edge-2\"} 0.00025\n"));
	free(t);
	/* no labels at all: no braces */
	t = render(&ss, NULL, EM_M_STATE_VERSION);
	ck_assert_ptr_nonnull(strstr(t, "\nedgemesh_state_version 42\n"));
	free(t);
	metrics_free(&ss);
}
END_TEST

START_TEST(test_bounds)
{
	struct em_samples ss = {0};
	char big[400];
	int i;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	/* labels that do not fit are refused, nothing added */
	ck_assert_int_eq(metrics_add(&ss, EM_M_PEER_TX, 1, "peer", big, NULL), -1);
	ck_assert_uint_eq(ss.n, 0);
	for (i = 0; i < EM_SAMPLES_MAX; i++)
		ck_assert_int_eq(metrics_add(&ss, EM_M_HANDSHAKES, i, NULL), 0);
	ck_assert_int_eq(metrics_add(&ss, EM_M_HANDSHAKES, 1, NULL), -1);
	ck_assert_uint_eq(ss.n, EM_SAMPLES_MAX);
	metrics_free(&ss);
}
END_TEST

START_TEST(test_histogram)
{
	struct em_histogram h;
	struct em_samples ss = {0};
	char *t;

	memset(&h, 0, sizeof(h));
	metrics_observe(&h, 0.0002); /* first bucket */
	metrics_observe(&h, 0.003);  /* le 0.005 */
	metrics_observe(&h, 0.003);
	metrics_observe(&h, 9); /* beyond every bound: +Inf only */
	ck_assert_int_eq(metrics_add_histogram(&ss, EM_M_GW_DURATION, &h, "route", "r1"), 0);
	t = render(&ss, "gatewayd", EM_M_GW_DURATION);
	ck_assert_ptr_nonnull(
	    strstr(t, "# TYPE edgemesh_gateway_request_duration_seconds histogram\n"));
	ck_assert_ptr_nonnull(
	    strstr(t, "_bucket{daemon=\"gatewayd\",route=\"r1\",le=\"0.0005\"} 1\n"));
	ck_assert_ptr_nonnull(
	    strstr(t, "_bucket{daemon=\"gatewayd\",route=\"r1\",le=\"0.0025\"} 1\n"));
	ck_assert_ptr_nonnull(
	    strstr(t, "_bucket{daemon=\"gatewayd\",route=\"r1\",le=\"0.005\"} 3\n"));
	ck_assert_ptr_nonnull(
	    strstr(t, "_bucket{daemon=\"gatewayd\",route=\"r1\",le=\"2.5\"} 3\n"));
	ck_assert_ptr_nonnull(
	    strstr(t, "_bucket{daemon=\"gatewayd\",route=\"r1\",le=\"+Inf\"} 4\n"));
	ck_assert_ptr_nonnull(strstr(t, "_sum{daemon=\"gatewayd\",route=\"r1\"} 9.0062\n"));
	ck_assert_ptr_nonnull(strstr(t, "_count{daemon=\"gatewayd\",route=\"r1\"} 4\n"));
	free(t);
	metrics_free(&ss);
}
END_TEST

START_TEST(test_names)
{
	int i;

	/* every metric has a name with our prefix, a help text; counters end in _total */
	for (i = 0; i < EM_M__COUNT; i++) {
		ck_assert_ptr_nonnull(em_metric_descs[i].name);
		ck_assert_ptr_nonnull(em_metric_descs[i].help);
		ck_assert_int_eq(strncmp(em_metric_descs[i].name, "edgemesh_", 9), 0);
		if (em_metric_descs[i].type == EM_MT_COUNTER) {
			const char *n = em_metric_descs[i].name;
			ck_assert_str_eq(n + strlen(n) - 6, "_total");
		}
	}
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics");

	tcase_add_test(tc, test_escape_and_render);
	tcase_add_test(tc, test_bounds);
	tcase_add_test(tc, test_histogram);
	tcase_add_test(tc, test_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
