"""ocf.metadata: the meta-data XML against both schemas, and the Markdown reference.

The default ("compat") document must pass ocf-tester's check (ra-api-1.dtd, with a
DOCTYPE, as ``xmllint --valid``) and the OCF 1.1 RelaxNG while carrying what Pacemaker
needs to reload in place (reload-agent, reloadable); both schemas are shipped in
ocf/schemas and each check is shown to reject something, so a pass means something.
"""

from __future__ import annotations

import pytest
from lxml import etree
from test_ocf_agent import example_agent

from ocf import Agent, OCFCode, Parameter
from ocf import metadata as md


@pytest.fixture
def agent() -> Agent:
    return example_agent()


def parse(xml: str) -> etree._Element:
    return etree.fromstring(xml.encode())


def params_of(root: etree._Element) -> dict[str, etree._Element]:
    return {p.get("name"): p for p in root.iter("parameter")}


# --------------------------------------------------------------------------- schemas


def test_the_shipped_schemas_are_the_ones_we_claim() -> None:
    dtd = open(md.DTD_PATH, encoding="utf-8").read()
    rng = open(md.RNG_PATH, encoding="utf-8").read()
    assert "<!ELEMENT resource-agent (version,longdesc,shortdesc,parameters?,actions) >" in dtd
    assert "reload|meta-data|usage|methods|validate-all) #REQUIRED" in dtd
    assert "ClusterLabs/OCF-spec" in rng and '<attribute name="unique-group" />' in rng
    etree.RelaxNG(etree.parse(md.RNG_PATH))  # a usable schema, not just text
    etree.DTD(md.DTD_PATH)


def test_compat_meta_data_validates_against_the_dtd_and_the_rng(agent: Agent) -> None:
    xml = md.to_xml(agent)
    assert md.validate(xml, "dtd") == []
    assert md.validate(xml, "rng") == []


def test_ocf_1_1_meta_data_validates_against_the_rng_only(agent: Agent) -> None:
    xml = md.to_xml(agent, md.OCF_1_1)
    assert md.validate(xml, "rng") == []
    errors = " ".join(md.validate(xml, "dtd"))
    assert "no DTD found" in errors  # what ocf-tester would report


def test_the_dtd_check_rejects_1_1_attributes_and_actions(agent: Agent) -> None:
    xml = md.to_xml(agent, md.OCF_1_1).replace(
        '<?xml version="1.0"?>\n',
        '<?xml version="1.0"?>\n<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd">\n')
    errors = " ".join(md.validate(xml, "dtd"))
    assert "unique-group" in errors and "reloadable" in errors
    assert "reload-agent" in errors and "select" in errors


def test_the_rng_check_rejects_a_document_without_actions(agent: Agent) -> None:
    root = parse(md.to_xml(agent))
    root.remove(root.find("actions"))
    errors = md.validate(etree.tostring(root, encoding="unicode"), "rng")
    assert errors and any("actions" in e or "Expecting" in e for e in errors)


def test_an_agent_with_many_kinds_of_declarations_still_validates() -> None:
    agent = Agent("other", "2", "Other", "Other agent.")
    agent.add_parameter(Parameter("p", "select", "p", default="b", choices=("a", "b"),
                                  unique_group="g", reloadable=True))
    agent.add_action("start", lambda ctx: OCFCode.SUCCESS)
    agent.add_action("stop", lambda ctx: OCFCode.SUCCESS)
    agent.add_action("monitor", lambda ctx: OCFCode.SUCCESS, interval=5, role="Promoted")
    agent.add_action("promote", lambda ctx: OCFCode.SUCCESS, timeout=90)
    agent.add_action("migrate_to", lambda ctx: OCFCode.SUCCESS)
    agent.add_action("validate-all", timeout=5)
    for profile in (md.COMPAT, md.OCF_1_1):
        assert md.validate(md.to_xml(agent, profile), "rng") == [], profile
    assert md.validate(md.to_xml(agent), "dtd") == []


# --------------------------------------------------------------------------- content


def test_document_header_and_agent_element(agent: Agent) -> None:
    xml = md.to_xml(agent)
    assert xml.startswith('<?xml version="1.0"?>\n'
                          '<!DOCTYPE resource-agent SYSTEM "ra-api-1.dtd" [\n'
                          '<!ATTLIST parameter unique-group CDATA #IMPLIED '
                          'reloadable (1|0) "0">\n'
                          '<!ATTLIST action name CDATA #REQUIRED>\n'
                          ']>\n'
                          '<resource-agent name="example" version="0.3">\n')
    root = parse(xml)
    assert root.findtext("version") == "1.1"
    assert root.find("longdesc").get("lang") == "en"
    assert root.findtext("longdesc") == (
        "Manages an imaginary service.\nDeclared by the tests of the ocf package.")
    assert root.findtext("shortdesc") == "Example service"
    assert [child.tag for child in root] == [
        "version", "longdesc", "shortdesc", "parameters", "actions"]


def test_compat_parameters(agent: Agent) -> None:
    params = params_of(parse(md.to_xml(agent)))
    assert list(params) == ["name", "port", "enabled", "mode", "addr", "vlan"]
    assert {n: (p.get("required"), p.get("unique")) for n, p in params.items()} == {
        "name": ("1", "1"),   # a unique group of one is 1.0's unique="1"
        "port": ("0", "0"), "enabled": ("0", "0"), "mode": ("0", "0"),
        "addr": ("0", "0"), "vlan": ("0", "0"),  # a group of two has no 1.0 form
    }
    # OCF 1.1's attributes too (the internal DTD subset declares them): what Pacemaker
    # reads to reload in place and pcs to check uniqueness.
    assert {n: p.get("unique-group") for n, p in params.items()} == {
        "name": "name", "port": None, "enabled": None, "mode": None,
        "addr": "endpoint", "vlan": "endpoint"}
    assert {n for n, p in params.items() if p.get("reloadable") == "1"} == {"enabled"}
    for p in params.values():
        assert set(p.attrib) - {"unique-group"} == {"name", "required", "unique", "reloadable"}
    content = {n: dict(p.find("content").attrib) for n, p in params.items()}
    assert content == {
        "name": {"type": "string"},
        "port": {"type": "integer", "default": "8080"},
        "enabled": {"type": "boolean", "default": "true"},
        "mode": {"type": "string", "default": "active"},
        "addr": {"type": "string"},
        "vlan": {"type": "integer"},
    }
    assert params["mode"].find("content").find("option") is None
    assert params["mode"].findtext("longdesc").endswith("Allowed values: active, standby.")
    assert params["addr"].findtext("longdesc") == (
        "Address to bind.\n"
        "The combination of addr, vlan must be unique among resources of this agent.")
    assert params["port"].findtext("shortdesc") == "TCP port"
    assert params["port"].find("shortdesc").get("lang") == "en"


def test_ocf_1_1_parameters(agent: Agent) -> None:
    xml = md.to_xml(agent, md.OCF_1_1)
    assert "<!DOCTYPE" not in xml
    params = params_of(parse(xml))
    assert params["name"].get("unique-group") == "name"
    assert params["addr"].get("unique-group") == params["vlan"].get("unique-group") == "endpoint"
    assert params["port"].get("unique-group") is None
    assert params["enabled"].get("reloadable") == "1"
    assert params["port"].get("reloadable") == "0"
    assert all(p.get("unique") is None for p in params.values())
    mode = params["mode"].find("content")
    assert mode.get("type") == "select" and mode.get("default") == "active"
    assert [o.get("value") for o in mode.iter("option")] == ["active", "standby"]
    assert params["mode"].findtext("longdesc") == "active serves, standby waits."


def test_actions(agent: Agent) -> None:
    compat = [dict(a.attrib) for a in parse(md.to_xml(agent)).iter("action")]
    assert compat == [
        {"name": "start", "timeout": "30s"},
        {"name": "stop", "timeout": "30s"},
        {"name": "monitor", "timeout": "20s", "interval": "10s", "depth": "0"},
        {"name": "monitor", "timeout": "40s", "interval": "60s", "depth": "20"},
        {"name": "reload-agent", "timeout": "10s"},  # Pacemaker reloads only if listed
        {"name": "meta-data", "timeout": "5s"},
        {"name": "validate-all", "timeout": "20s"},
    ]
    full = [a.get("name") for a in parse(md.to_xml(agent, md.OCF_1_1)).iter("action")]
    assert full == ["start", "stop", "monitor", "monitor", "reload-agent",
                    "meta-data", "validate-all"]


def test_the_agent_profile_decides_what_meta_data_prints(agent: Agent) -> None:
    assert agent.run_action("meta-data", {}).stdout == md.to_xml(agent)
    agent.metadata_profile = md.OCF_1_1
    assert 'unique-group="endpoint"' in agent.run_action("meta-data", {}).stdout
    with pytest.raises(ValueError):
        Agent("x", "1", "s", "l", metadata_profile="ocf-2")


def test_text_is_escaped(agent: Agent) -> None:
    agent.add_parameter(Parameter("expr", "string", "a < b & c", "Use \"quotes\" & <tags>."))
    xml = md.to_xml(agent)
    assert md.validate(xml, "dtd") == [] and md.validate(xml, "rng") == []
    assert params_of(parse(xml))["expr"].findtext("shortdesc") == "a < b & c"


# --------------------------------------------------------------------------- Markdown


def test_markdown_reference(agent: Agent) -> None:
    text = md.markdown(agent)
    assert text.startswith("# ocf:test:example\n\nExample service\n")
    assert "pcs resource create NAME ocf:test:example name=VALUE\n" in text
    assert "| Name | Type | Default | Required | Reloadable | Description |" in text
    for name in agent.parameters:
        assert f"| `{name}` |" in text and f"### `{name}`" in text
    assert "| `port` | integer | `8080` | no | no | TCP port |" in text
    assert "| `name` | string |  | yes | no | Service name |" in text
    assert "| `enabled` | boolean | `true` | no | yes | Serve requests |" in text
    assert "| `mode` | select | `active` | no | no | Role of this instance |" in text
    assert "Allowed values: `active`, `standby`." in text
    assert "The combination of `addr`, `vlan` must be unique" in text
    assert "applied in place by the `reload-agent` action" in text
    assert "| `start` | 30s |  |  |  |" in text
    assert "| `monitor` | 40s | 60s | 20 |  |" in text
    assert "| `reload-agent` | 10s |  |  |  |" in text
    assert "| `validate-all` | 20s |  |  |  |" in text


def test_markdown_table_cells_stay_on_one_line() -> None:
    agent = Agent("t", "1", "T", "T.")
    agent.add_parameter(Parameter("p", "string", "a | b\nc"))
    assert "| `p` | string |  | no | no | a \\| b c |" in md.markdown(agent)
