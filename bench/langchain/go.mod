module github.com/mandatehq/mandate/bench/langchain

go 1.26

require (
	github.com/mandatehq/mandate v0.0.0
	github.com/tmc/langchaingo v0.1.14
)

replace github.com/mandatehq/mandate => ../..
