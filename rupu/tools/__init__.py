"""Tools the agent loop offers models: built-ins (files, search, shell, web search) and MCP servers'
tools, behind workspace confinement and the permission gate. `toolbox.open_toolbox` builds the set
for one run."""
