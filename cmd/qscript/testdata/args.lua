-- Prints the arguments it got, with their Lua types.
assert(arg.name == "x", "arg.name is " .. tostring(arg.name))
print(type(arg.samples), arg.samples + 1, type(arg.fast), arg.fast, type(arg.model), arg.model)
