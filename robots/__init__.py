"""The fleet at run time: cells bound to drivers, PackML states, the dispatcher and its journal."""
from robots.dispatcher import DispatchReport, Dispatcher, plan_id
from robots.fleet import Fleet
from robots.journal import Journal

__all__ = ["DispatchReport", "Dispatcher", "Fleet", "Journal", "plan_id"]
