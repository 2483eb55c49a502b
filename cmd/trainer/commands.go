package main

import (
	"strings"

	"github.com/sirupsen/logrus"
	"github.com/urfave/cli/v2"

	"gotrain/model"
)

func modelList() string {
	var parts []string
	for _, n := range model.Names() {
		parts = append(parts, n+" ("+model.Describe(n)+")")
	}
	return strings.Join(parts, "; ") + "; default " + model.Default
}

func evaluateCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{Name: "evaluate", Usage: "not yet"}
}

func predictCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{Name: "predict", Usage: "not yet"}
}

func summaryCommand() *cli.Command {
	return &cli.Command{Name: "summary", Usage: "not yet"}
}

func exportCommand(log *logrus.Logger) *cli.Command {
	return &cli.Command{Name: "export", Usage: "not yet"}
}
