"""config.toml: typed settings, and errors that name the file, the key and the line."""

from pathlib import Path

import pytest

from rpdevd.config import ConfigError, check_pull_interval, load_config, parse_config

EXAMPLE = """\
poll_interval = "15s"          # RunPod API poll
probe_interval = "60s"

[[pod]]
id = "abc123xyz"
policy = "idle-stop"
idle_timeout = "30m"
warn_before = "5m"
wake_on_connect = false

[[pod]]
name = "trainer"
policy = "keep-alive"

[[sync]]
pod = "abc123xyz"
local = "~/src/myproject"
remote = "/workspace/myproject"
"""


def test_product_example_parses() -> None:
    cfg = parse_config(EXAMPLE, Path("c.toml"))
    assert cfg.poll_interval == 15 and cfg.probe_interval == 60
    assert cfg.pods[0].policy == "idle-stop" and cfg.pods[0].idle_timeout == 1800
    assert cfg.pods[0].warn_before == 300
    assert cfg.pod_config("zzz", "trainer").policy == "keep-alive"
    assert cfg.pod_config("abc123xyz", "whatever").id == "abc123xyz"
    assert cfg.pod_config("other", "other") is None
    assert cfg.syncs[0].local == Path("~/src/myproject").expanduser()


@pytest.mark.parametrize(
    "text,key,line",
    [
        ('poll_interval = "15 parsecs"\n', "poll_interval", 1),
        ('\n\n[[pod]]\nid = "abc"\nidle_timeout = "soon"\n', "pod[0].idle_timeout", 5),
        ('[[pod]]\nid = "a"\n[[pod]]\nid = "b"\npolicy = "sometimes"\n', "pod[1].policy", 5),
        ('[[pod]]\nid = "ABC!"\n', "pod[0].id", 2),
        ('[[pod]]\npolicy = "manual"\n', "pod[0]", 1),
        ('[[pod]]\nid = "a"\nidle_timeout = "5m"\nwarn_before = "10m"\n', "pod[0].warn_before", 4),
        ('[[sync]]\npod = "a"\nlocal = "x"\n', "sync[0].remote", 1),
        ('[[sync]]\npod = "a"\nlocal = "x"\nremote = "/w/../etc"\n', "sync[0].remote", 4),
        ('colour = "blue"\n', "colour", 1),
        ('[ssh]\nuser = "root; rm"\n', "ssh.user", 2),
        # ssh refuses a whole config file over an impossible interval: every host breaks.
        ("[ssh]\nserver_alive_interval = -1\n", "ssh.server_alive_interval", 2),
        ('[[pod]]\nid = "a"\nuser = "root\\n ProxyCommand x"\n', "pod[0].user", 3),
        ('api_key = "secret"\n', "api_key", 1),
        ('[[pod]]\nid = "a"\n[[pod]]\nid = "a"\n', "pod[1]", 3),
    ],
)
def test_errors_name_file_key_and_line(text: str, key: str, line: int) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, Path("/cfg/config.toml"))
    assert exc.value.key == key
    assert exc.value.line == line
    assert str(exc.value).startswith(f"/cfg/config.toml:{line}: {key}: ")


def test_toml_syntax_error_has_line() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config("a = 1\nb = = 2\n", Path("x.toml"))
    assert exc.value.line == 2 and "x.toml:2" in str(exc.value)


def test_missing_file_gives_defaults_and_env_relocates(home: Path) -> None:
    cfg = load_config()
    assert cfg.source is None and cfg.poll_interval == 15
    path = home / ".config" / "rpdev" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text('poll_interval = "2s"\n')
    assert load_config().poll_interval == 2


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[[sync]]\npod = "p"\nlocal = "/a"\nremote = "/b"\nmax_delete = "x"\n', "an integer"),
        ('[[pod]]\nname = "p"\nwake_on_connect = "yes"\n', "true or false"),
        ("[[pod]]\nname = 3\n", "a string"),
    ],
)
def test_a_wrong_type_is_named_as_toml_names_it(text: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text, Path("c.toml"))
    assert f"must be {says}, not" in str(err.value)


@pytest.mark.parametrize(
    ("value", "want"),
    [
        ('"250kB/s"', 250e3),
        ('"2MB/s"', 2e6),
        ('"1MiB/s"', 1048576.0),
        ('"1.5 GB/s"', 1.5e9),
        ("300000", 300e3),
        ('"300000"', 300e3),
    ],
)
def test_data_thresholds_take_a_rate(value: str, want: float) -> None:
    config = parse_config(f"net_threshold = {value}\ndisk_threshold = {value}\n")
    assert config.net_threshold == want and config.disk_threshold == want
    assert parse_config("").net_threshold == 250e3 and parse_config("").disk_threshold == 1e6


@pytest.mark.parametrize("value", ['"fast"', "0", "-5", "true", '"5 kb/s"', '"2 Mbit/s"'])
def test_a_data_threshold_that_is_no_rate_is_refused_with_its_line(value: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(f'poll_interval = "15s"\ndisk_threshold = {value}\n')
    assert err.value.key == "disk_threshold" and err.value.line == 2
    assert "250kB/s" in str(err.value)


def test_gpu_and_cpu_thresholds_are_percentages() -> None:
    config = parse_config("gpu_threshold = 5\ncpu_threshold = 12.5\n")
    assert (config.gpu_threshold, config.cpu_threshold) == (5.0, 12.5)
    assert (parse_config("").gpu_threshold, parse_config("").cpu_threshold) == (10.0, 20.0)
    for bad in ("0", "101", "-1", "true", '"20%"'):
        with pytest.raises(ConfigError) as err:
            parse_config(f'poll_interval = "15s"\ncpu_threshold = {bad}\n')
        assert err.value.key == "cpu_threshold" and err.value.line == 2


def test_a_monthly_budget_and_a_pods_bid_cap_are_read() -> None:
    config = parse_config(
        '[budget]\nmonthly = 200\n\n[[pod]]\nname = "spot"\npolicy = "keep-alive"\nmax_bid = 0.4\n'
    )
    assert config.budget_monthly == 200.0
    assert config.pods[0].max_bid == 0.4
    plain = parse_config('[[pod]]\nname = "t"\n')
    assert plain.budget_monthly is None and plain.pods[0].max_bid is None


@pytest.mark.parametrize(
    "text, where",
    [
        ("[budget]\nmonthly = -5\n", ":2: budget.monthly: -5 is not an amount of dollars"),
        ('[budget]\nmonthly = "200$"\n', ":2: budget.monthly: '200$' is not an amount"),
        ("[budget]\nweekly = 50\n", ":2: budget.weekly: unknown key (known keys: monthly)"),
        ("budget = 200\n", ":1: budget: must be a table: write [budget]"),
        ('[[pod]]\nname = "t"\nmax_bid = 0\n', ":3: pod[0].max_bid: 0 is not a bid"),
        ('[[pod]]\nname = "t"\n\nmax_bid = "40c"\n', ":4: pod[0].max_bid: must be a number"),
        ('[[pod]]\nname = "t"\nmax_bid = true\n', ":3: pod[0].max_bid: must be a number"),
    ],
)
def test_a_bad_budget_or_bid_cap_is_refused_with_its_line(text: str, where: str) -> None:
    with pytest.raises(ConfigError) as exc:
        parse_config(text, Path("/c/config.toml"))
    assert str(exc.value).startswith("/c/config.toml" + where)


SYNC = '[[sync]]\npod = "p"\nlocal = "/a"\nremote = "/b"\npull = ["logs/"]\n'


@pytest.mark.parametrize(
    "interval, what",
    [
        ('"500ms"', "0.5s is too short: pull passes need at least 1s between them"),
        ("0.2", "0.2s is too short: pull passes need at least 1s between them"),
        ("0", "must be greater than zero"),
        ("1e300", "1e+300s is not a duration to wait"),
    ],
)
def test_a_pull_interval_under_a_second_is_refused_with_its_line(interval: str, what: str) -> None:
    # Passes back to back would keep the pod's disk and the connection busy for nothing.
    with pytest.raises(ConfigError) as exc:
        parse_config(f"{SYNC}\npull_interval = {interval}\n", Path("/c/config.toml"))
    assert str(exc.value) == f"/c/config.toml:7: sync[0].pull_interval: {what}"


def test_a_pull_interval_of_a_second_or_more_is_taken() -> None:
    assert parse_config(f'{SYNC}pull_interval = "1s"\n').syncs[0].pull_interval == 1.0
    assert parse_config(f"{SYNC}pull_interval = 90\n").syncs[0].pull_interval == 90.0
    assert check_pull_interval(1.0) is None and check_pull_interval(0.999) is not None
