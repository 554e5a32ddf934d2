"""The OCF resource agent API 1.1 as a small library: declare an agent once, run it.

    from ocf import Agent, OCFCode, OCFError, Parameter

    agent = Agent("demo", "1.0", "Demo resource", "What it manages and how.")
    agent.add_parameter(Parameter("nic", "string", "Interface", required=True))
    agent.add_action("monitor", monitor, timeout=20, interval=10)
    ...
    if __name__ == "__main__":
        agent.main()

Importing this package loads the standard library only; lxml is imported when
meta-data is generated (ocf.metadata), so monitors stay cheap.
"""

from ocf.agent import ActionSpec, Agent, Context, Result
from ocf.codes import OCFCode, OCFError, describe
from ocf.log import Log
from ocf.params import Parameter, parse_boolean

__all__ = [
    "ActionSpec",
    "Agent",
    "Context",
    "Log",
    "OCFCode",
    "OCFError",
    "Parameter",
    "Result",
    "describe",
    "parse_boolean",
]
