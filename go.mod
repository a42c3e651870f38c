module github.com/qscript-dev/qscript

go 1.26.0

require (
	github.com/fsnotify/fsnotify v1.10.1
	github.com/x448/float16 v0.8.4
	github.com/yuin/gopher-lua v1.1.2
	golang.org/x/image v0.48.0
	golang.org/x/sys v0.50.0
	golang.org/x/term v0.48.0
	google.golang.org/protobuf v1.36.12
)
