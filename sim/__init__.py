"""The digital twin: a SimPy model of the floor built from the same FactorySpec as the plan,
run as independent replications, summarised with confidence intervals."""
from sim.report import TwinReport
from sim.twin import Twin

__all__ = ["Twin", "TwinReport"]
