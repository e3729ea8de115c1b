"""Mutants along one request's path: limits, errors, streams, deadlines, the lease, the
write-back, validation and dispatch."""

from __future__ import annotations

from mutants.model import Mutant, Patch

REQUEST_PATH: tuple[Mutant, ...] = (
    Mutant(
        "cool-down",
        "shared 429 cool-down (`RateLimiter.on_rate_limited` a no-op)",
        (
            Patch(
                "worker/limiter.py",
                r"(?m)^(?P<indent>[ \t]*)(?P<def>async def on_rate_limited\([^)]*\)[^:\n]*:\n)",
                "\\g<indent>\\g<def>\\g<indent>    return 0.0  # mutant\n",
            ),
        ),
        ("test_upstream_storms.py::test_429_storm_is_damped_by_the_shared_cool_down",),
    ),
    Mutant(
        "final-errors",
        "final errors not retried (`FinalError` made a `RetryableError`)",
        (
            Patch(
                "contract/errors.py",
                r"(?m)^class FinalError\(UpstreamError\):",
                "class FinalError(RetryableError):",
            ),
        ),
        (
            "test_upstream_storms.py::test_garbage_200_is_recorded_as_invalid_response",
            "test_worker_outcomes.py::test_model_not_found_is_final_after_one_call",
            "test_worker_outcomes.py::test_final_errors_are_not_retried",
        ),
    ),
    Mutant(
        "cut-stream",
        "a cut SSE stream is retried (ended stream raises the final `StreamFailed`)",
        (
            Patch(
                "worker/sse.py",
                r"raise StreamInterrupted\((\s*)\"the stream ended before",
                'raise StreamFailed(\\1"the stream ended before',
            ),
        ),
        (
            "test_upstream_storms.py::test_truncated_sse_streams_are_retried",
            "test_upstream_storms.py::test_streams_cut_on_every_attempt_end_as_stream_interrupted",
            "test_upstream.py::test_truncated_stream_is_retryable_stream_interrupted",
        ),
    ),
    Mutant(
        "total-deadline",
        "one deadline per attempt, connect to last byte (the whole-exchange timeout removed)",
        (
            Patch(
                "worker/upstream.py",
                r"deadline = asyncio\.timeout\(self\.deadline\)",
                "deadline = asyncio.timeout(None)  # mutant",
            ),
        ),
        (
            "test_deadlines.py::test_a_trickled_answer_ends_at_the_deadline_and_is_closed",
            "test_deadline_faults.py",
        ),
    ),
    Mutant(
        "lease",
        "lease (claim's cut, renewal and sweep of arq's in-progress key)",
        (
            Patch(
                "contract/lua/claim.lua",
                r"redis\.call\('PEXPIRE', K\.progress,[^\n]*\)",
                "-- mutant: no lease",
            ),
            Patch(
                "contract/lua/renew.lua",
                r"redis\.call\('PEXPIRE', key, lease_ms\)",
                "-- mutant: no renewal",
            ),
            Patch(
                "worker/lease.py",
                # sweep() cuts arq's in-progress key of unclaimed jobs (PEXPIRE … LT).
                r"\.pexpire\(\s*ARQ_IN_PROGRESS_PREFIX \+ (\w+),[^)]*\)",
                ".exists(ARQ_IN_PROGRESS_PREFIX + \\1)",
            ),
        ),
        (
            "test_worker_signals.py::test_sigkill_worker_mid_batch_loses_nothing_and_retakes_within_lease",
            "test_worker_signals.py::test_picked_but_unclaimed_job_of_a_killed_worker_is_retaken_within_lease",
        ),
    ),
    Mutant(
        "keep-outcome",
        "an answer whose write-back Redis refuses is kept and written later (dropped instead)",
        (
            Patch(
                "worker/results.py",
                r"if refused and lease is not None and not lease\.lost:",
                "if False:  # mutant",
            ),
        ),
        (
            "test_worker_job_reruns.py::test_a_refused_write_back_is_kept_and_written_without_sending_again",
            "test_result_writer.py::"
            "test_a_refused_write_back_is_kept_while_its_lease_holds_and_dropped_once_lost",
            "test_duplicate_sends.py::"
            "test_answers_received_while_redis_refuses_writes_are_kept_not_asked_again",
        ),
    ),
    Mutant(
        "send-check",
        "a job run checks its lease before each send (the check skipped)",
        (
            Patch(
                "worker/runner.py",
                r"before_send=confirm",
                "before_send=None",
            ),
        ),
        (
            "test_job_lease.py::"
            "test_a_worker_waking_from_a_freeze_sends_nothing_another_worker_took_over",
            "test_duplicate_sends.py::test_a_worker_resumed_after_a_freeze_sends_nothing_another_took_over",
        ),
    ),
    Mutant(
        "write-once",
        "exactly-once write-back (every `HSETNX` on the results hash a plain `HSET`)",
        (
            # end_request in _common.lua and the worker's group write (record_many.lua)
            # both store a result only when none exists yet; the mutant always stores.
            Patch(
                "**/*.lua",
                r"redis\.call\('HSETNX', k\.res, ([^)]*)\)",
                "(redis.call('HSET', k.res, \\1) * 0 + 1)",
                min_count=2,
            ),
        ),
        (
            "test_worker_job_reruns.py::test_a_job_rerun_while_its_first_run_is_still_sending_counts_each_request_once",
            "test_worker_job_reruns.py::test_job_executed_twice_records_once_and_calls_once",
        ),
    ),
    Mutant(
        "validation",
        "validation before enqueue (`ItemPreparer.raise_if_bad` a no-op: bad items dropped)",
        (
            Patch(
                "producer/validation.py",
                r"(?m)^(?P<indent>[ \t]*)(?P<def>def raise_if_bad\(self\)[^:\n]*:\n)",
                "\\g<indent>\\g<def>\\g<indent>    return  # mutant\n",
            ),
        ),
        (
            "test_hostile_input.py",
            "test_batch_endings.py::test_invalid_item_enqueues_nothing",
            "test_cli_submit.py::test_invalid_lines_exit_2_and_touch_nothing",
        ),
    ),
    Mutant(
        "liberal-reading",
        "any provider's Response is a success "
        "(only `resp_…` ids accepted, as a strict parser would)",
        (
            Patch(
                "contract/response.py",
                r"return isinstance\(body, dict\) and \(",
                'return isinstance(body, dict) and str(body.get("id", "")).startswith("resp_") '
                "and (",
            ),
        ),
        ("test_provider_compat.py",),
    ),
    Mutant(
        "account-pause",
        "account failures pause the batch (`is_account_failure` always False)",
        (
            Patch(
                "worker/account_pause.py",
                r"(?m)^(?P<def>def is_account_failure\([^)]*\)[^:\n]*:\n)",
                "\\g<def>    return False  # mutant\n",
            ),
        ),
        (
            "test_worker_outcomes.py::test_account_errors_pause_the_batch_only_when_they_come_in_a_row",
            "test_account_pause.py::"
            "test_a_key_that_goes_bad_pauses_the_batch_and_resume_finishes_it",
        ),
    ),
    Mutant(
        "fair-turns",
        "batches take turns at dispatch (a dispatched batch's virtual time never grows)",
        (
            Patch(
                "contract/lua/dispatch.lua",
                r"redis\.call\('ZINCRBY', zset, n / \(tonumber\(v\[2\]\) or 1\), b\)",
                "-- mutant: no ZINCRBY",
            ),
        ),
        (
            "test_scheduling.py::test_batches_take_turns_whatever_was_submitted_first",
            "test_scheduling.py::test_priority_is_a_weight_and_urgent_goes_first",
            "test_fair_scheduling.py::"
            "test_a_small_batch_behind_a_large_one_finishes_within_seconds",
        ),
    ),
)
