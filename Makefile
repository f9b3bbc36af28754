# One entry point for every job. `make test` is what CI runs (through .ci/run).
SHELL := /bin/bash
NPM_STAMP := node_modules/.install-stamp

.PHONY: install build typecheck lint format proto proto-check test test-unit test-integration test-node-line node-lines demo demo-sim bench bench-kv bench-node-lines bench-sim bench-sim-memory bench-sim-churn bench-sim-kv clean

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: $(NPM_STAMP)

# What the package ships (dist/src); `npm pack` runs it too (prepack).
build: install
	npm run build

typecheck: install
	npx tsc -p tsconfig.json --noEmit

lint: install
	npx eslint .
	npx prettier --check .

format: install
	npx prettier --write .

# Regenerate TypeScript from proto/ (ts-proto through buf; no system protoc needed).
proto: install
	npx buf lint
	rm -rf src/gen
	npx buf generate

# CI fails when the generated code is stale against proto/.
proto-check: install
	npx buf lint
	@tmp=$$(mktemp -d); cp -r src/gen $$tmp/before 2>/dev/null || mkdir -p $$tmp/before; \
	  $(MAKE) --no-print-directory proto >/dev/null; \
	  if ! diff -r $$tmp/before src/gen >/dev/null; then echo "src/gen is stale: run 'make proto' and commit"; diff -r $$tmp/before src/gen | head -20; rm -rf $$tmp; exit 1; fi; \
	  rm -rf $$tmp; echo "generated code is up to date"

test: install proto-check typecheck lint
	npx vitest run

test-unit: install
	npx vitest run test/routing test/sim

test-integration: install
	npx vitest run test/integration

# What CI runs under each maintained Node.js LTS line besides the machine's (.ci/run puts that line's node first
# on PATH): type-check, then the tests that exercise what differs between Node releases (TLS, HTTP/2 and gRPC,
# child processes, signals, timers, process metrics) together with the routing unit tests and real-process
# integration tests, then the demo. Lint, generated code and the Node-independent suites (simulator, chart,
# benchmark harness, network-namespace faults, fuzzing, the StatefulSet rehearsal) run once, in `make test`.
NODE_LINE_TESTS := test/routing test/wire test/auth test/server test/overlay test/client test/daemon test/metrics test/integration test/kv
test-node-line: install typecheck
	@echo "== Node.js $$(node --version): typecheck passed; tests: $(NODE_LINE_TESTS)"
	npx vitest run $(NODE_LINE_TESTS)
	$(MAKE) --no-print-directory demo

# Fetch the pinned official binaries of the maintained LTS lines into .cache/node (scripts/node-lines.sh).
node-lines:
	scripts/node-lines.sh fetch

# The README's main command: a local cluster of real daemons (`wendy demo`: child processes on 127.0.0.1,
# routing checked against the numerically closest node, one node crashed, everything stopped at the end).
# Built first, so that bin/wendy.js runs the daemons compiled rather than through tsx (a third of the memory).
demo: build
	node bin/wendy.js demo

# The earlier demo: the discrete-event simulator, no network.
demo-sim: install
	npx tsx src/sim/demo.ts

# Ours (four regions) at 1k / 10k / 100k, then the Pastry paper's own setting (one plane) at 1k / 10k.
bench-sim: install
	node --max-old-space-size=20000 --import tsx bench/sim/run.ts
	node --max-old-space-size=8000 --import tsx bench/sim/run.ts --topology plane --sizes 1000,10000

# Churn (bench/sim/churn.ts): 10,000 nodes with 60, 30 and 5 minute median sessions and 100,000 with 30, each
# warmed up 10 virtual minutes and measured for 60 -> bench/results/sim-churn.json and the churn section of
# sim-latest.md. Measured 2026-12-03 (core 21e1146, 10,000 nodes, 30-minute sessions): build 7.9 M events
# (about 250 CPU s); churn 2.3 simulator events per node per virtual second, about 36,000 events per CPU
# second (67,000 at 1,000 nodes), so 39 CPU s per virtual minute: about 50 minutes of one free core for the
# 10,000-node, 30-minute run (5-minute sessions cost about three times that per virtual minute at 2,000
# nodes), and an estimated 15-20 hours for the 100,000-node one (events per CPU second keep falling with size;
# live heap about 44 KiB per node, bench-sim-memory). Re-estimated 2026-12-06 on deadline ticks: the
# 10,000-node hour is 54.6 M events (about 38,000 per CPU second); the 100,000-node build reached 32,376 nodes
# in 929 s (21.7 M events, under 20,000 per CPU second), so the 100,000-node hour is about 550 M events plus a
# 75 M-event build: 8-9 hours of one core, in one process. A nice'd run on the shared machine got 15-40 % of a
# core. Run it on a quiet machine; --wall-minutes stops a run's measured time at a wall-clock budget and still
# writes its row, and so does SIGINT or SIGTERM to a run that is measuring (docs/simulation.md).
# A 64 MiB semi-space (V8's default is 16): fewer scavenges, each copying much the same survivors (the
# simulator holds many objects for a few virtual seconds, such as messages in flight). Same results;
# 2,000 nodes, 30-minute sessions, 2+8 min: 241 scavenges, 4.6 s of pause -> 85 and 2.8 s (--trace-gc).
CHURN_RUN = nice node --max-semi-space-size=64 --import tsx bench/sim/churn.ts
bench-sim-churn: install
	$(CHURN_RUN) --nodes 10000 --median-minutes 60
	$(CHURN_RUN) --nodes 10000 --median-minutes 30
	$(CHURN_RUN) --nodes 10000 --median-minutes 5
	NODE_OPTIONS=--max-old-space-size=20000 $(CHURN_RUN) --nodes 100000 --median-minutes 30

# Key-value replication under churn (bench/sim/kv.ts): 1,000 and 10,000 nodes, 20,000 keys written with W = 2
# of k = 3, 30 s at rest, exponential sessions of median 10 minutes for 3 (1,000) or 2 (10,000) virtual
# minutes with 50 writes a second going on (half overwrites), then 2 minutes of repair -> bench/results/sim-kv.json and sim-kv.md. The 10,000-node run is sized to
# stay within about 30 minutes of CPU (its build through real joins is about 4 of them).
KV_SIM_RUN = nice -n 10 node --import tsx bench/sim/kv.ts
bench-sim-kv: install
	$(KV_SIM_RUN) --nodes 1000 --keys 20000 --churn-minutes 3 --repair-minutes 2
	NODE_OPTIONS=--max-old-space-size=6000 $(KV_SIM_RUN) --nodes 10000 --keys 20000 --churn-minutes 2 --repair-minutes 2

# Live heap per simulated node after an 8,000-node proximity build -> bench/results/sim-memory-8000.json
bench-sim-memory: install
	node --expose-gc --max-old-space-size=8000 --import tsx bench/sim/memory.ts --nodes 8000

# Real daemons on 127.0.0.1 against a plain gRPC baseline of the same run; results in bench/results/
# (<date>.json, latest.md, latest.svg). Reads the simulation results of bench-sim but does not run it.
bench: install
	node --import tsx bench/run.ts

# The key-value store's Put and Get on 8 daemons against the echo baseline of the same run -> bench/results/kv-latest.md
bench-kv: install
	node --import tsx bench/kv.ts

# `make bench` reduced to one 8-node cluster (about 5 minutes a line), under the machine's Node and each pinned
# LTS line, ROUNDS times (later rounds in reverse order, so no line always runs at the same time of the load);
# then CPU per routed message against each line's own echo, and each line's daemon memory (idle after 45 s at
# rest, as `make bench` measures it) -> bench/results/node-lines.md and .json, from the raw runs kept in
# bench/results/node-lines/. Each daemon runs in a memory cgroup with the chart's memory limit, as in a pod
# (where the machine lets us make cgroups; test/bench/node-lines.test.ts keeps the two limits equal).
ROUNDS ?= 1
POD_MEMORY_LIMIT_MIB = 256
bench-node-lines: install
	@set -e; out=bench/results/node-lines; rm -f $$out/*.json; mkdir -p $$out; \
	lines="machine $$(scripts/node-lines.sh list | tr '\n' ' ')"; \
	for round in $$(seq $(ROUNDS)); do \
	  for line in $$lines; do \
	    if [ $$line = machine ]; then bin=$$(dirname "$$(command -v node)"); else bin=$$(scripts/node-lines.sh bin $$line); fi; \
	    tmp=$$(mktemp -d); \
	    PATH=$$bin:$$PATH node --import tsx bench/run.ts --sizes 8 --idle-ms 10000 --idle-settle-ms 45000 --memory-limit-mib $(POD_MEMORY_LIMIT_MIB) --out $$tmp; \
	    cp $$tmp/*.json $$out/$$($$bin/node --version)-round$$round.json; rm -rf $$tmp; \
	  done; \
	  lines=$$(echo $$lines | tr ' ' '\n' | tac | tr '\n' ' '); \
	done; \
	node --import tsx bench/node-lines.ts --out bench/results/node-lines $$out/*.json

clean:
	rm -rf dist coverage
