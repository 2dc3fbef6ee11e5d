"""enishi-nps: Net Promoter Score surveys, the example plugin of docs/plugin-tutorial.md."""
