"""docker-compose.yml cannot start on our machines (no Docker engine): these checks keep it true to
the code instead: settings, CLI commands, topics and scenarios it names must exist."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from contact_router.cli import app
from contact_router.settings import Settings
from contact_router.sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def topic_specs(text: str) -> set[str]:
    return set(re.findall(r"\b([a-z-]+-(?:events|decisions|alerts|letters)):(\d+|\$\w+)", text))


def test_every_service_the_design_names_is_there_with_a_health_check() -> None:
    expected = {"kafka", "kafka-init", "redis", "router", "simulator", "prometheus", "alertmanager", "webhook-receiver",
                "grafana"}
    assert expected <= set(SERVICES)
    assert [name for name, svc in SERVICES.items() if "healthcheck" not in svc] == []


def test_router_environment_names_real_settings() -> None:
    fields = {f"CONTACT_ROUTER_{name.upper()}" for name in Settings.model_fields}
    for name in ("router", "simulator"):
        assert set(SERVICES[name]["environment"]) <= fields


def test_the_routers_hash_customer_references_with_a_usable_key_and_the_simulator_has_none() -> None:
    from contact_router.privacy import Pseudonyms

    value = SERVICES["router"]["environment"]["CONTACT_ROUTER_CUSTOMER_REF_KEY"]
    default = re.fullmatch(r"\$\{CONTACT_ROUTER_CUSTOMER_REF_KEY:-(.+)\}", value)
    assert default, "the key comes from the environment, with a demo default"
    Pseudonyms(default[1])
    assert "CONTACT_ROUTER_CUSTOMER_REF_KEY" not in SERVICES["simulator"]["environment"]


def test_the_routers_routing_config_is_a_file_the_image_holds_and_it_loads() -> None:
    from contact_router.routing.config import load_routing_config

    path = SERVICES["router"]["environment"]["CONTACT_ROUTER_ROUTING_CONFIG"]
    assert path.startswith("/app/") and "COPY scenarios ./scenarios" in (ROOT / "Dockerfile").read_text()
    config = load_routing_config(ROOT / path.removeprefix("/app/"))
    assert config == load_scenario(ROOT / "scenarios" / "demo.yaml").routing


def test_router_and_simulator_run_real_cli_commands_on_real_files() -> None:
    commands = {c.name or c.callback.__name__ for c in app.registered_commands}
    assert SERVICES["router"]["command"][0] in commands
    simulate, scenario = SERVICES["simulator"]["command"]
    assert simulate in commands
    load_scenario(ROOT / scenario)


def test_alertmanager_sends_to_the_webhook_receiver_service_which_runs_a_real_command() -> None:
    from typer.testing import CliRunner

    command = SERVICES["webhook-receiver"]["command"]
    commands = {c.name or c.callback.__name__ for c in app.registered_commands}
    assert command[0] in commands
    assert CliRunner().invoke(app, [command[0], "--help"]).exit_code == 0
    port = command[command.index("--port") + 1]
    routing = yaml.safe_load((ROOT / "deploy" / "alertmanager" / "alertmanager.yml").read_text())
    urls = [w["url"] for r in routing["receivers"] for w in r["webhook_configs"]]
    assert urls and all(url.startswith(f"http://webhook-receiver:{port}/") for url in urls)
    assert "webhook-receiver" in SERVICES["alertmanager"]["depends_on"]


def test_compose_creates_the_stack_script_topics_which_are_the_default_settings() -> None:
    compose_topics = {name: int(n) for name, n in topic_specs(SERVICES["kafka-init"]["command"][0])}
    stack = (ROOT / "deploy" / "stack").read_text()
    stack_topics = {name for name, _ in topic_specs(stack)}
    defaults = {v for k, v in Settings().model_dump().items() if k.startswith("topic_")}
    assert set(compose_topics) == stack_topics == defaults
    assert compose_topics["contact-events"] == compose_topics["agent-events"], "inputs must be co-partitioned"


def test_the_readme_routing_configuration_example_is_valid() -> None:
    from contact_router.routing.config import RoutingConfig

    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    (example,) = [b for b in blocks if "offer_timeout_seconds" in b]
    config = RoutingConfig.model_validate(yaml.safe_load(example))
    assert config.policy("billing").wrap_up_seconds == 30 and config.policy("other").offer_timeout_seconds == 20
    # Queues inherit what they do not set from default.
    callbacks = config.policy("callbacks")
    assert callbacks.offer_timeout_seconds is None and callbacks.scoring == "longest_idle"
    assert callbacks.max_handle_seconds == 14400 and config.policy("billing").scoring == "best_skilled"


def test_every_failure_seen_in_other_routers_has_a_test() -> None:
    """The routing issue lists bugs users hit elsewhere; each must be cited by a test that covers it."""
    known = ["FreeSWITCH #2540", "FreeSWITCH #2901", "FreeSWITCH #2511", "Asterisk #607", "FreePBX #40",
             "OpenSIPS #2974", "OpenSIPS #3123", "Chatwoot #5672", "Chatwoot #10376"]
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py") if p.name != "test_deployment.py")
    assert [ref for ref in known if ref not in tests] == []
