package quant

import (
	"fmt"
	"sort"
	"strings"
)

// ObserverOption adjusts an observer made by NewObserver.
type ObserverOption func(*observerConfig)

type observerConfig struct {
	axis       int
	averaging  float64
	percentile float64
}

// WithPercentile sets the percentile of a percentile observer (default 99.999).
func WithPercentile(p float64) ObserverOption { return func(c *observerConfig) { c.percentile = p } }

// WithAxis sets the channel axis of a per-channel observer (default 0).
func WithAxis(axis int) ObserverOption { return func(c *observerConfig) { c.axis = axis } }

// WithAveragingConstant sets the averaging constant of a moving-average observer
// (default 0.01).
func WithAveragingConstant(c float64) ObserverOption {
	return func(cfg *observerConfig) { cfg.averaging = c }
}

// observerKinds maps each name NewObserver accepts to its constructor. Names are the Lua
// API's snake_case; the torch class names' short forms are aliases.
var observerKinds = map[string]func(Scheme, observerConfig) (Observer, error){
	"minmax": func(s Scheme, _ observerConfig) (Observer, error) { return NewMinMax(s), nil },
	"moving_average": func(s Scheme, c observerConfig) (Observer, error) {
		return NewMovingAverageMinMaxC(s, c.averaging)
	},
	"per_channel": func(s Scheme, c observerConfig) (Observer, error) {
		return NewPerChannelMinMax(s, c.axis), nil
	},
	"histogram": func(s Scheme, _ observerConfig) (Observer, error) { return NewHistogram(s), nil },
	"percentile": func(s Scheme, c observerConfig) (Observer, error) {
		if !(c.percentile > 0 && c.percentile <= 100) {
			return nil, fmt.Errorf("quant: percentile %v must be in (0, 100]", c.percentile)
		}
		return NewPercentile(s, c.percentile), nil
	},
	"entropy": func(s Scheme, _ observerConfig) (Observer, error) { return NewEntropy(s), nil },
	"mse":     func(s Scheme, _ observerConfig) (Observer, error) { return NewMSE(s), nil },
}

var observerAliases = map[string]string{
	"kl":                     "entropy",
	"min_max":                "minmax",
	"moving_average_minmax":  "moving_average",
	"moving_average_min_max": "moving_average",
	"per_channel_minmax":     "per_channel",
	"per_channel_min_max":    "per_channel",
}

// ObserverKinds lists the names NewObserver accepts, sorted.
func ObserverKinds() []string {
	kinds := make([]string, 0, len(observerKinds))
	for k := range observerKinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}

// NewObserver makes an observer by name for scheme s: "minmax", "moving_average",
// "per_channel", "histogram", "percentile", "entropy" or "mse" (ObserverKinds lists them). An unknown name is an
// error that lists the known ones.
func NewObserver(kind string, s Scheme, opts ...ObserverOption) (Observer, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	cfg := observerConfig{averaging: DefaultAveragingConstant, percentile: DefaultPercentile}
	for _, o := range opts {
		o(&cfg)
	}
	name := strings.ToLower(kind)
	if a, ok := observerAliases[name]; ok {
		name = a
	}
	ctor, ok := observerKinds[name]
	if !ok {
		return nil, fmt.Errorf("quant: unknown observer %q (want one of %s)", kind, strings.Join(ObserverKinds(), ", "))
	}
	return ctor(s, cfg)
}
