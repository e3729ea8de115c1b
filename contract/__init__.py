"""What respq's producer and worker share: the Redis key layout, statuses, input and output
lines, the Response/Usage reading, prices, the job serializer, the Redis connection, the
shared Lua with its loader, the audit both sides run, and the exception root.

``producer`` (submit, the Batch handle, the CLI) and ``worker`` (arq workers) each import
this package and never each other, so each deploys alone.
"""
