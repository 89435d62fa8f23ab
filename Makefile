# make demo  - set up .venv and run the demo: the real shop, built-in fakes, one buyer
# make test  - set up .venv (and the system tools the tests use, if missing), then run
#              lint, types and tests

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint tools screenshot bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

demo: $(BIN)/.installed
	$(BIN)/qrisbot demo

# The provisioning tests run a real sshd on a free loopback port; the transport tests make
# a throwaway TLS certificate with openssl; the unit file is checked by systemd-analyze;
# the future-date tests run the daemon under libfaketime with a small shim built by cc;
# the autoscript worlds are checked by Debian's v2ray (`v2ray -test`); the demo's chat page
# is opened in Debian's headless Chromium (with the emoji font the bot's texts use); the
# daily backup is decrypted with Debian's age, the tool a seller restores with.
tools:
	@if [ ! -x /usr/sbin/sshd ] || ! command -v openssl >/dev/null \
			|| ! command -v systemd-analyze >/dev/null || ! command -v faketime >/dev/null \
			|| ! command -v cc >/dev/null || ! command -v v2ray >/dev/null \
			|| [ ! -x /usr/bin/chromium ] || ! command -v age >/dev/null; then \
		echo "installing openssh-server, openssl, systemd, faketime, gcc, v2ray, chromium and age (tools the tests use)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			openssh-server openssl systemd faketime gcc libc6-dev v2ray \
			chromium fonts-noto-color-emoji age; \
	fi

lint: $(BIN)/.installed
	$(BIN)/ruff check qrisbot tests bench
	$(BIN)/mypy

# Two workers, one test file each at a time (the files share nothing but the machine's
# users, each under names of its own); most of the suite waits on real processes.
test: $(BIN)/.installed tools lint
	QRISBOT_TESTS_CLEAN_USERS=1 $(BIN)/pytest -n 2 --dist loadfile

# docs/demo-chat.png, the README's picture: the demo's chat page as headless Chromium draws it.
screenshot: $(BIN)/.installed tools
	$(BIN)/qrisbot demo --html $(VENV)/demo-chat.html --out $(VENV) >/dev/null
	$(BIN)/python tests/chromium.py $(VENV)/demo-chat.html docs/demo-chat.png

# Benchmarks with their peers (aiogram, python-telegram-bot); a few minutes, needs root + sshd.
bench: $(BIN)/.installed tools
	$(BIN)/python -m pip install -q -e '.[bench]'
	for b in "updates.py 5000 3" "open_orders.py 10000 40" "paid_flow.py 12" \
	         "provisioning.py 50" "resume.py 10000" "flood.py 20 300" \
	         "lifecycle_due.py 100000" "removals.py 500" "reminders.py 10000" \
	         "panels.py 100 1000" "chart.py 10000 10"; do \
		echo "== bench/$$b"; $(BIN)/python bench/$$b || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
