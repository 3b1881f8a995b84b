"""The live layer: the asyncio code that drives connections (WebSocket client, session driver, runner,
client pool, load service, control API) and the ramp that steps a `Driver`."""
