"""Mutants at a batch's edges: tenants, uploads, Redis faults, clean-up, webhooks, the
timeline, gone workers and the other endpoints."""

from __future__ import annotations

from mutants.model import Mutant, Patch

BATCH_EDGES: tuple[Mutant, ...] = (
    Mutant(
        "tenant-isolation",
        "tenant isolation (`visible` always true; a tenant lists from the global indexes)",
        (
            Patch(
                "server/auth.py",
                r"return viewer\.admin or \(owner is not None and owner == viewer\.tenant\)",
                "return True  # mutant",
            ),
            Patch(
                "server/*.py",
                r"if viewer\.admin else tenant_(?:batches|files)_key\(viewer\.tenant or \"\"\)",
                "if True else None  # mutant",
                min_count=2,
            ),
        ),
        (
            "test_server_tenants.py::test_another_tenant_gets_exactly_the_404_of_an_unknown_id",
            "test_server_tenants.py::test_the_dashboard_shows_a_tenant_only_its_own",
            "test_server_auth.py::test_a_tenant_sees_its_own_an_admin_everything",
        ),
    ),
    Mutant(
        "upload-completeness",
        "an upload is complete or refused (the multipart final-boundary check off)",
        (
            Patch(
                "server/upload.py",
                r"if not receiver\.complete:",
                "if False:  # mutant: no final-boundary check",
            ),
        ),
        (
            "test_server_upload.py::"
            "test_a_body_cut_before_its_closing_boundary_is_refused_and_leaves_no_file",
            "test_server_hostile_requests.py::"
            "test_an_upload_cut_before_its_closing_boundary_is_a_400_that_stores_nothing",
        ),
    ),
    Mutant(
        "redis-timeout",
        "every wait on Redis bounded by RESPQ_REDIS_TIMEOUT (the producer's bounds dropped)",
        (
            Patch(
                "contract/redis_conn.py",
                r"\*\*\(timeout_options\(timeout\) if timeout is not None else \{\}\),",
                "# mutant: no timeouts",
            ),
        ),
        (
            "test_environment_failures.py::test_every_command_gives_up_on_a_frozen_redis_within_the_timeout",
            "test_redis_urls.py::test_a_timeout_bounds_every_wait_on_redis_and_on_its_sentinels",
        ),
    ),
    Mutant(
        "unsealed-cleanup",
        "a submit stopped by OOM removes its new batch (the removal in a MULTI, which Redis "
        "refuses over maxmemory)",
        (
            Patch(
                "producer/enqueue.py",
                r"pipe = redis\.pipeline\(transaction=False\)\n(?=\s+pipe\.unlink)",
                "pipe = redis.pipeline(transaction=True)  # mutant\n",
            ),
        ),
        (
            "test_environment_failures.py::"
            "test_the_python_api_removes_the_batch_while_redis_stays_over_maxmemory",
        ),
    ),
    Mutant(
        "webhook-event",
        "the script that ends a batch writes its webhook event (`emit_batch_event` a no-op)",
        (
            Patch(
                "contract/lua/_common.lua",
                r"(?m)^(local function emit_batch_event\(k, final, now\)\n)",
                "\\1  do return end -- mutant\n",
            ),
        ),
        (
            "test_webhook_events.py",
            "test_webhook_faults.py",
        ),
    ),
    Mutant(
        "webhook-receiver",
        "an ending writes an event only when someone would receive it (always written)",
        (
            Patch(
                "contract/lua/_common.lua",
                r"and redis\.call\('EXISTS', k\.receiver\) == 0 then",
                "and false then",
            ),
        ),
        ("test_webhook_events.py::test_no_ending_writes_an_event_when_nobody_would_receive_it",),
    ),
    Mutant(
        "webhook-lease",
        "a claimed webhook event stays due until recorded (the claim removes it instead)",
        (
            Patch(
                "contract/lua/webhook_claim.lua",
                r"redis\.call\('ZADD', K\.webhooks, 'XX', until_ms, member\)",
                "redis.call('ZREM', K.webhooks, member)",
            ),
        ),
        (
            "test_webhook_delivery.py",
            "test_webhook_faults.py",
        ),
    ),
    Mutant(
        "timeline",
        "a batch's timeline is written with its results (the write-back's `timeline_add` a no-op)",
        (
            Patch(
                "contract/lua/record_many.lua",
                r"timeline_add\(K\.timeline,",
                "(function() end)(K.timeline,",
            ),
        ),
        (
            "test_timeline.py::test_a_write_counts_its_results_in_the_bucket_of_its_time",
            "test_server_dashboard_monitoring.py::test_the_timeline_api_sends_what_is_new_and_the_whole_series_when_the_"
            "width_changed",
        ),
    ),
    Mutant(
        "gone-worker",
        "a silent worker is shown as gone within a lease (only once its heartbeat hash expired)",
        (
            Patch(
                "producer/monitor.py",
                r"gone = not raw or silent_for > [^\n]*",
                "gone = not raw  # mutant",
            ),
        ),
        (
            "test_monitor.py::test_a_worker_silent_for_two_heartbeats_is_gone_since_its_last_one",
            "test_server_dashboard_monitoring.py::test_a_killed_worker_is_shown_as_gone_within_a_lease",
        ),
    ),
    Mutant(
        "endpoint-path",
        "each batch goes to its endpoint (every request POSTed to `{base_url}/responses`)",
        (
            Patch(
                "worker/upstream.py",
                r"self\._urls\[endpoint\.url\]",
                'self._urls["/v1/responses"]',
                min_count=2,
            ),
        ),
        (
            "test_worker_endpoints.py::"
            "test_each_endpoint_posts_its_path_and_stores_its_answer_as_received",
            "test_core_path_endpoints.py::test_python_runs_each_endpoints_example",
        ),
    ),
    Mutant(
        "mixed-refusal",
        "a batch has one endpoint (`_check_endpoint` lets any endpoint through)",
        (
            Patch(
                "producer/validation.py",
                r"(?m)^(?P<indent>[ \t]*)(?P<def>def _check_endpoint\([^)]*\)[^:\n]*:\n)",
                "\\g<indent>\\g<def>\\g<indent>    return  # mutant\n",
            ),
        ),
        (
            "test_validation.py::"
            "test_a_mixed_batch_names_the_first_item_that_differs_and_counts_the_rest",
            "test_core_path_endpoints.py::test_a_mixed_file_is_refused_before_anything_is_enqueued",
            "test_server_endpoints.py::"
            "test_lines_of_another_endpoint_fail_the_batch_with_errors_data",
        ),
    ),
    Mutant(
        "chat-stream",
        "a streamed chat is assembled (read as a Responses stream instead)",
        (
            Patch(
                "worker/chat_stream.py",
                r"CHAT_COMPLETIONS\.url: final_chat_completion,",
                "CHAT_COMPLETIONS.url: final_response,",
            ),
        ),
        (
            "test_worker_endpoints.py::"
            "test_a_streamed_chat_is_stored_as_the_chat_completion_the_plain_call_returns",
            "test_core_path_endpoints.py::test_python_runs_each_endpoints_example",
        ),
    ),
    Mutant(
        "vectors-apart",
        "embedding vectors are stored apart from the packed line (`skeleton` finds none)",
        (
            Patch(
                "contract/vectors.py",
                r"(?m)^(?P<def>def skeleton\([^)]*\)[^:\n]*:\n)",
                "\\g<def>    return None  # mutant\n",
            ),
        ),
        (
            "test_stored_lines.py::"
            "test_an_embedding_of_1536_floats_costs_a_fifth_of_its_json_and_reads_back_exactly",
            "test_core_path_endpoints.py::"
            "test_typed_requests_of_each_endpoint_and_vectors_as_the_upstream_sent_them",
        ),
    ),
)
