-- Calls a Go function with a bad argument, to check that errors name the file, line and function.
local greeter = require "greeter"

print("before")
greeter.greet(nil)
