# PacketScope: `make run` builds and runs a node, `make test` runs every test. Both install what is missing.
SHELL := /bin/bash
CONFIGURATION ?= Release
DOTNET ?= dotnet
NODE_DIR := src/Node/bin/$(CONFIGURATION)/net10.0
# Debian packages the build, the node and the tests need.
APT_PACKAGES := clang llvm libbpf-dev libbpf1 bpftool iproute2 iputils-ping procps util-linux ethtool make gcc libc6-dev
# And what only the tests need: a real PostgreSQL server for the cluster journal tests.
TEST_APT_PACKAGES := postgresql chromium
ARGS ?=

.PHONY: all deps build bpf web run test bench clean

all: build

# Installs only what is missing, so a prepared machine does no apt work at all.
deps:
	@missing=$$(for p in $(APT_PACKAGES) $(TEST_DEPS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "missing packages: $$missing; run as root or: sudo apt-get install $$missing" >&2; exit 1; fi; \
		echo "installing: $$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@# The .NET 10 SDK is not in Debian 12: say exactly how to get it (Microsoft's package feed, or the install script).
	@if ! command -v $(DOTNET) >/dev/null || ! $(DOTNET) --list-sdks 2>/dev/null | grep -q '^10\.'; then \
		found=$$($(DOTNET) --list-sdks 2>/dev/null | cut -d' ' -f1 | tr '\n' ' '); \
		echo "the .NET 10 SDK is missing (PacketScope builds with .NET 10; found: $${found:-none}). On Debian 12, as root:" >&2; \
		echo "  wget https://packages.microsoft.com/config/debian/12/packages-microsoft-prod.deb -O /tmp/packages-microsoft-prod.deb" >&2; \
		echo "  dpkg -i /tmp/packages-microsoft-prod.deb && apt-get update && apt-get install -y dotnet-sdk-10.0" >&2; \
		echo "or without root: curl -sSL https://dot.net/v1/dotnet-install.sh | bash -s -- --channel 10.0 && export PATH=\$$HOME/.dotnet:\$$PATH" >&2; \
		echo "then run make again." >&2; exit 1; \
	fi
	@# Node.js and npm build the dashboard: Debian's packages unless some node is installed already (NodeSource's carries npm).
	@if ! command -v npm >/dev/null; then \
		if [ "$$(id -u)" != 0 ]; then echo "npm is missing; run as root or: sudo apt-get install nodejs npm" >&2; exit 1; fi; \
		echo "installing: nodejs npm"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; \
	fi

# The dashboard: npm install (the committed lock pins every version; `npm ci` trips on rollup's optional
# per-platform packages missing from the lock, an npm bug) and vite build into web/dist, only when a
# source is newer than the last build.
WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/index.html web/package.json web/package-lock.json web/vite.config.ts web/tsconfig.json
web/dist/index.html: $(WEB_SOURCES)
	cd web && npm install --no-audit --no-fund --loglevel=error && npm run build
	@touch $@

web: deps web/dist/index.html

bpf: deps
	$(MAKE) -C bpf

build: deps web
	$(DOTNET) build PacketScope.sln -c $(CONFIGURATION) -nologo -v:q

# make run ARGS="--iface eth0 --api 127.0.0.1:8080"
run: build
	cd $(NODE_DIR) && exec ./packetscope $(ARGS)

# Every suite: unit, actor, web, kernel (network namespaces, real BPF), end-to-end. Needs root.
test: TEST_DEPS := $(TEST_APT_PACKAGES)
test: build
	@[ "$$(id -u)" = 0 ] || { echo "make test loads BPF programs into the kernel: run it as root" >&2; exit 1; }
	$(DOTNET) test PacketScope.sln -c $(CONFIGURATION) --no-build -nologo -v:q --logger "console;verbosity=normal"

bench: build
	$(DOTNET) run -c $(CONFIGURATION) --no-build --project bench/PacketScope.Bench -- $(ARGS)

clean:
	$(MAKE) -C bpf clean
	$(DOTNET) clean PacketScope.sln -nologo -v:q
