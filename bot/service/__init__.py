"""The use cases, free of Bolt: admit (one admission), stop (stop once, status), live
(what is live, with names), stop_all (the batch)."""
