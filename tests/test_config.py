"""Settings come from defaults, env vars, the config file and per-call values, in that order."""

import json

import pytest

from kx_jupyter.config import ConfigError, load_settings


def test_defaults(kx_home):
    s = load_settings(environ={"KX_JUPYTER_HOME": str(kx_home)})
    assert s.backend == "local"
    assert s.strategy == "ROLLING"
    assert s.home_path == kx_home


def test_env_then_file_then_overrides(kx_home):
    (kx_home / "config.json").write_text(json.dumps({"KxJupyter": {"cluster": "from-file", "poll_max": 3}}))
    env = {
        "KX_JUPYTER_HOME": str(kx_home),
        "KX_JUPYTER_CLUSTER": "from-env",
        "KX_JUPYTER_REGION": "eu-west-1",
    }
    s = load_settings(environ=env)
    assert (s.cluster, s.region, s.poll_max) == ("from-file", "eu-west-1", 3.0)
    assert load_settings(environ=env, cluster="per-call").cluster == "per-call"


def test_bad_env_value_names_the_variable(kx_home):
    with pytest.raises(ConfigError, match="KX_JUPYTER_STRATEGY"):
        load_settings(environ={"KX_JUPYTER_HOME": str(kx_home), "KX_JUPYTER_STRATEGY": "SLOWLY"})


def test_unknown_setting_in_file_is_named(kx_home):
    (kx_home / "config.json").write_text(json.dumps({"KxJupyter": {"clsuter": "x"}}))
    with pytest.raises(ConfigError, match="clsuter"):
        load_settings(environ={"KX_JUPYTER_HOME": str(kx_home)})


def test_bad_override_is_a_config_error(kx_home):
    with pytest.raises(ConfigError, match="strategy"):
        load_settings(environ={"KX_JUPYTER_HOME": str(kx_home)}, strategy="FAST")


def test_readme_documents_every_setting_with_its_variable():
    from pathlib import Path

    from kx_jupyter.config import KxJupyter

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    missing = [
        n
        for n in KxJupyter.class_trait_names(config=True)
        if f"| `{n}` | `KX_JUPYTER_{n.upper()}` |" not in readme
    ]
    assert missing == []


@pytest.mark.parametrize(
    "variable,value,says",
    [
        (
            "KX_JUPYTER_POLL_MAX",
            "-1",
            "KX_JUPYTER_POLL_MAX=-1: poll_max must be a number from 0.05 to 3600, not '-1'",
        ),
        ("KX_JUPYTER_LOCAL_PORT", "99999", "local_port must be a whole number from 0 to 65535, not '99999'"),
        (
            "KX_JUPYTER_POLL_INITIAL",
            "fast",
            "KX_JUPYTER_POLL_INITIAL=fast: poll_initial must be a number from 0.01 to 60",
        ),
        ("KX_JUPYTER_MAX_ATTEMPTS", "0", "max_attempts must be a whole number from 1 to 100, not '0'"),
        ("KX_JUPYTER_TIMEOUT", "-5", "timeout must be a number from 0.1 to 604800"),
        ("KX_JUPYTER_MAX_BUNDLE_MB", "5000", "max_bundle_mb must be a number from 0.001 to 4000"),
        ("KX_JUPYTER_NODE_START_SECONDS", "nan", "node_start_seconds must be a number from 0 to 3600"),
    ],
)
def test_out_of_range_and_non_numeric_settings_are_one_line_naming_the_setting(
    kx_home, variable, value, says
):
    with pytest.raises(ConfigError) as err:
        load_settings(environ={"KX_JUPYTER_HOME": str(kx_home), variable: value})
    assert says in str(err.value) and "\n" not in str(err.value)


def test_out_of_range_values_are_refused_from_the_file_and_per_call(kx_home):
    with pytest.raises(ConfigError, match=r"^timeout must be a number from 0.1 to 604800"):
        load_settings(environ={"KX_JUPYTER_HOME": str(kx_home)}, timeout=-5)
    (kx_home / "config.json").write_text(json.dumps({"KxJupyter": {"poll_max": 0}}))
    with pytest.raises(ConfigError, match=r"^poll_max must be a number from 0.05 to 3600.*config\.json"):
        load_settings(environ={"KX_JUPYTER_HOME": str(kx_home)})
