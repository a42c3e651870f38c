-- exit: 1
-- stderr: math-random-zero.lua:3: bad argument #1 to 'random' (interval is empty (math.random(m) needs m >= 1, got 0))
print(math.random(0))
