// promrules checks Prometheus alerting rules for the chart's tests (tests/e2e/chart.rs):
//
//	promrules check RULES             validate a rule file as Prometheus loads it
//	promrules alerts RULES SERIES AT  the alerts firing AT after the series start
//
// RULES is a Prometheus rule file (`groups: [...]`, the spec of a PrometheusRule). `check`
// does what `promtool check rules` does: the file's structure (unknown fields are errors),
// every expression parsed as PromQL, label names, and the annotations' and labels'
// templates. It prints one line per rule.
//
// SERIES holds samples in the `load` syntax of Prometheus's PromQL tests (and of
// `promtool test rules`' input_series):
//
//	load 1m
//	    sluice_proxy_requests_total{ingress="web", status_class="5xx"} 0+6x60
//
// the first sample at t=0 (Unix time 0), one every interval. `alerts` evaluates each
// alerting rule with Prometheus's own PromQL engine every 30 seconds (a rule group's
// evaluation interval under the Prometheus Operator) and prints, sorted, the alerts that
// fire at AT (a duration such as 60m): `Name{labels}`, the labels being the expression
// result's and the rule's, as Prometheus sends them to Alertmanager (besides alertname). An alert fires when its
// expression has returned the same label set at every evaluation for the rule's `for`.
//
// promtool does all this and more, but it links every service discovery Prometheus has and
// takes about nine minutes to build on two cores; this links the rule parser and the PromQL
// engine only, about a minute.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
)

// How often a rule group is evaluated: the Prometheus Operator's default.
const evaluationInterval = 30 * time.Second

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "promrules:", err)
		os.Exit(1)
	}
}

func run(args []string, out io.Writer) error {
	switch {
	case len(args) == 2 && args[0] == "check":
		groups, err := load(args[1])
		if err != nil {
			return err
		}
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				if r.Alert != "" {
					fmt.Fprintf(out, "%s: alert %s\n", g.Name, r.Alert)
				} else {
					fmt.Fprintf(out, "%s: record %s\n", g.Name, r.Record)
				}
			}
		}
		return nil
	case len(args) == 4 && args[0] == "alerts":
		groups, err := load(args[1])
		if err != nil {
			return err
		}
		series, err := loadSeries(args[2])
		if err != nil {
			return err
		}
		at, err := model.ParseDuration(args[3])
		if err != nil {
			return fmt.Errorf("AT %q: %w", args[3], err)
		}
		firing, err := alerts(groups, series, time.Unix(0, 0).Add(time.Duration(at)))
		if err != nil {
			return err
		}
		for _, a := range firing {
			fmt.Fprintln(out, a)
		}
		return nil
	default:
		return errors.New("usage: promrules check RULES | promrules alerts RULES SERIES AT")
	}
}

// The parser Prometheus uses by default (no experimental functions).
var promqlParser = parser.NewParser(parser.Options{})

// load reads and validates a rule file as Prometheus does when it loads one.
func load(path string) (*rulefmt.RuleGroups, error) {
	groups, errs := rulefmt.ParseFile(path, false, model.UTF8Validation, promqlParser, slog.New(slog.DiscardHandler))
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return groups, nil
}

// loadSeries reads SERIES: a `load INTERVAL` line, then one series a line.
func loadSeries(path string) ([]storage.Series, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var (
		interval time.Duration
		series   []storage.Series
	)
	for n, line := range strings.Split(string(text), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "load "); ok {
			d, err := model.ParseDuration(strings.TrimSpace(rest))
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, n+1, err)
			}
			interval = time.Duration(d)
			continue
		}
		if interval == 0 {
			return nil, fmt.Errorf("%s:%d: a series before the `load INTERVAL` line", path, n+1)
		}
		lset, values, err := promqlParser.ParseSeriesDesc(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n+1, err)
		}
		var samples []chunks.Sample
		for i, v := range values {
			if v.Omitted {
				continue
			}
			if v.Histogram != nil {
				return nil, fmt.Errorf("%s:%d: histogram samples are not supported", path, n+1)
			}
			samples = append(samples, floatSample{t: int64(i) * interval.Milliseconds(), f: v.Value})
		}
		series = append(series, storage.NewListSeries(lset, samples))
	}
	return series, nil
}

// alerts evaluates every alerting rule from `for` before `at` to `at` and returns those
// whose expression returned the same label set at every evaluation.
func alerts(groups *rulefmt.RuleGroups, series []storage.Series, at time.Time) ([]string, error) {
	engine := promql.NewEngine(promql.EngineOpts{
		Logger:        slog.New(slog.DiscardHandler),
		MaxSamples:    10_000_000,
		Timeout:       time.Minute,
		LookbackDelta: 5 * time.Minute,
		Parser:        promqlParser,
	})
	queryable := &storage.MockQueryable{MockQuerier: &storage.MockQuerier{
		SelectMockFunction: func(_ bool, _ *storage.SelectHints, matchers ...*labels.Matcher) storage.SeriesSet {
			return selectSeries(series, matchers)
		},
	}}
	var firing []string
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			var active map[string]bool
			for ts := at.Add(-time.Duration(r.For)); !ts.After(at); ts = ts.Add(evaluationInterval) {
				result, err := evaluate(engine, queryable, r.Expr, ts)
				if err != nil {
					return nil, fmt.Errorf("alert %s at %s: %w", r.Alert, ts.UTC().Format(time.RFC3339), err)
				}
				now := map[string]bool{}
				for _, sample := range result {
					lb := labels.NewBuilder(sample.Metric)
					lb.Del(labels.MetricName)
					for name, value := range g.Labels {
						lb.Set(name, value)
					}
					for name, value := range r.Labels {
						lb.Set(name, value)
					}
					key := r.Alert + lb.Labels().String()
					if active == nil || active[key] {
						now[key] = true
					}
				}
				active = now
			}
			for key := range active {
				firing = append(firing, key)
			}
		}
	}
	sort.Strings(firing)
	return firing, nil
}

func evaluate(engine *promql.Engine, queryable storage.Queryable, expr string, ts time.Time) (promql.Vector, error) {
	query, err := engine.NewInstantQuery(context.Background(), queryable, nil, expr, ts)
	if err != nil {
		return nil, err
	}
	defer query.Close()
	result := query.Exec(context.Background())
	if result.Err != nil {
		return nil, result.Err
	}
	switch v := result.Value.(type) {
	case promql.Vector:
		return v, nil
	case promql.Scalar:
		// Prometheus turns a scalar result into one alert without labels.
		return promql.Vector{promql.Sample{F: v.V, T: v.T}}, nil
	default:
		return nil, fmt.Errorf("the expression gives a %s, not a vector", result.Value.Type())
	}
}

// selectSeries is the storage: the loaded series that match, sorted by their labels.
func selectSeries(all []storage.Series, matchers []*labels.Matcher) storage.SeriesSet {
	var matched []storage.Series
	for _, s := range all {
		lset := s.Labels()
		if !slices.ContainsFunc(matchers, func(m *labels.Matcher) bool { return !m.Matches(lset.Get(m.Name)) }) {
			matched = append(matched, s)
		}
	}
	slices.SortFunc(matched, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
	return &seriesSet{series: matched}
}

type seriesSet struct {
	series []storage.Series
	next   int
}

func (s *seriesSet) Next() bool {
	s.next++
	return s.next <= len(s.series)
}
func (s *seriesSet) At() storage.Series              { return s.series[s.next-1] }
func (*seriesSet) Err() error                        { return nil }
func (*seriesSet) Warnings() annotations.Annotations { return nil }

// floatSample is one loaded sample.
type floatSample struct {
	t int64
	f float64
}

func (s floatSample) T() int64                    { return s.t }
func (floatSample) ST() int64                     { return 0 }
func (s floatSample) F() float64                  { return s.f }
func (floatSample) H() *histogram.Histogram       { return nil }
func (floatSample) FH() *histogram.FloatHistogram { return nil }
func (floatSample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s floatSample) Copy() chunks.Sample         { return s }
