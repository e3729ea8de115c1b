"""What the test modules share, one module per subject.

- ``databases``: the databases of the shared Redis server and the one registry of who owns
  which (the ``db`` fixture in ``tests/conftest.py`` hands them out)
- ``redis_servers``: a private ``redis-server`` (AOF, password, TLS) to stop, kill and restart
- ``processes``: worker and mockapi subprocesses, started with readiness polling
- ``workers``: in-process arq workers, as production builds them
- ``server``: a whole ``respq serve`` deployment
- ``cli``: the ``respq`` CLI, in-process and as a process
- ``polling``: the one way to wait for a condition
- ``ports``: free TCP ports
- ``factories``: request lines, batch items and response bodies
- ``limiter``: the rate limiter on a fake clock, on the real Redis and on fakeredis[lua]
- ``shapes``: OpenAI's batch output line, strictly
- ``sdk_types``: the official openai SDK's types as a strict judge (no unknown fields)
- ``compose``: docker-compose.yml and the Dockerfile as Compose and Docker read them
- ``paths``: where the repository, its examples and the fixtures are
"""
