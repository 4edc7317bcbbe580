package cmdutil

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apiextensions-apiserver/pkg/registry/customresource/tableconvertor"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/yaml"

	"github.com/tenancy-dev/tenancy/config"
)

// PrintFlags are -o/--output, always a print format: yaml, json, name,
// jsonpath=…, go-template=…, and (for lists and gets) the table and wide.
type PrintFlags struct {
	flags *genericclioptions.PrintFlags
	// tables: "" and "wide" print a metav1.Table.
	tables bool
	// fileFlag, when set, is the flag that writes a file: a value of -o
	// that is not a format gets a hint naming it.
	fileFlag string
}

// NewPrintFlags are the -o of a command that lists or gets (tables) or of
// one that changes something (operation, e.g. "created": -o "" prints
// "kind/name created").
func NewPrintFlags(operation string, tables bool) *PrintFlags {
	return &PrintFlags{flags: genericclioptions.NewPrintFlags(operation).WithTypeSetter(clientScheme), tables: tables}
}

// WithFileFlag names the flag that writes a file, for the hint given to
// someone who types -o FILE.
func (p *PrintFlags) WithFileFlag(flag string) *PrintFlags {
	p.fileFlag = flag
	return p
}

// AddFlags adds -o/--output to cmd.
func (p *PrintFlags) AddFlags(cmd *cobra.Command) {
	p.flags.AddFlags(cmd)
	formats := p.flags.AllowedFormats()
	if p.tables {
		formats = append([]string{"wide"}, formats...)
	}
	cmd.Flags().Lookup("output").Usage = "output format: " + strings.Join(formats, ", ")
	_ = cmd.RegisterFlagCompletionFunc("output", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return formats, cobra.ShellCompDirectiveNoFileComp
	})
}

// Format is the -o value.
func (p *PrintFlags) Format() string { return *p.flags.OutputFormat }

// SetFormat sets -o (for tests and callers that fix the format).
func (p *PrintFlags) SetFormat(f string) { *p.flags.OutputFormat = f }

// Table says whether the output is the table (wide: with every column).
func (p *PrintFlags) Table() (table, wide bool) {
	if !p.tables {
		return false, false
	}
	switch p.Format() {
	case "":
		return true, false
	case "wide":
		return true, true
	}
	return false, false
}

// Human says whether -o is empty: the output is for a person.
func (p *PrintFlags) Human() bool { return p.Format() == "" }

// Validate checks -o before anything is done.
func (p *PrintFlags) Validate() error {
	if t, _ := p.Table(); t {
		return nil
	}
	if _, err := p.flags.ToPrinter(); err != nil {
		f := p.Format()
		formats := p.flags.AllowedFormats()
		if p.tables {
			formats = append([]string{"wide"}, formats...)
		}
		if p.fileFlag != "" && (strings.ContainsAny(f, "./") || !strings.Contains(f, "=")) {
			return fmt.Errorf("-o/--output is the print format (%s); to write the file %s, use %s %s", strings.Join(formats, ", "), f, p.fileFlag, f)
		}
		return fmt.Errorf("-o %q is not an output format: use %s", f, strings.Join(formats, ", "))
	}
	return nil
}

// Print prints obj in the format of -o. For the table, table is called
// for the rows (nil: print obj's name only).
func (p *PrintFlags) Print(out io.Writer, obj runtime.Object, table func() (*metav1.Table, error)) error {
	if t, wide := p.Table(); t && table != nil {
		tbl, err := table()
		if err != nil {
			return err
		}
		return printers.NewTablePrinter(printers.PrintOptions{Wide: wide}).PrintObj(tbl, out)
	}
	printer, err := p.flags.ToPrinter()
	if err != nil {
		return err
	}
	stripManagedFields(obj)
	if !meta.IsListType(obj) {
		return printer.PrintObj(obj, out)
	}
	// Items carry their kind, as in kubectl's output; -o name prints a
	// line per item.
	items, err := meta.ExtractList(obj)
	if err != nil {
		return err
	}
	for _, item := range items {
		if gvks, _, err := clientScheme.ObjectKinds(item); err == nil && len(gvks) > 0 {
			item.GetObjectKind().SetGroupVersionKind(gvks[0])
		}
	}
	if p.Format() == "name" {
		for _, item := range items {
			if err := printer.PrintObj(item, out); err != nil {
				return err
			}
		}
		return nil
	}
	if err := meta.SetList(obj, items); err != nil {
		return err
	}
	return printer.PrintObj(obj, out)
}

func stripManagedFields(obj runtime.Object) {
	if meta.IsListType(obj) {
		_ = meta.EachListItem(obj, func(o runtime.Object) error {
			stripManagedFields(o)
			return nil
		})
		return
	}
	if a, err := meta.Accessor(obj); err == nil {
		a.SetManagedFields(nil)
	}
}

var (
	crdColumnsOnce sync.Once
	crdColumns     map[string][]apiextensionsv1.CustomResourceColumnDefinition
	crdColumnsErr  error
)

// CRDTable is the table `kubectl get` prints for obj (an object or list of
// one of Tenancy's kinds, plural its resource): the CRD's
// additionalPrinterColumns, read from the CRDs this binary installs.
func CRDTable(ctx context.Context, plural string, obj runtime.Object) (*metav1.Table, error) {
	crdColumnsOnce.Do(func() {
		crdColumns = map[string][]apiextensionsv1.CustomResourceColumnDefinition{}
		docs, err := config.CRDs()
		if err != nil {
			crdColumnsErr = err
			return
		}
		for _, d := range docs {
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := yaml.Unmarshal(d, crd); err != nil {
				crdColumnsErr = err
				return
			}
			for _, v := range crd.Spec.Versions {
				if v.Storage {
					crdColumns[crd.Spec.Names.Plural] = v.AdditionalPrinterColumns
				}
			}
		}
	})
	if crdColumnsErr != nil {
		return nil, fmt.Errorf("read the CRDs' printer columns: %w", crdColumnsErr)
	}
	cols, ok := crdColumns[plural]
	if !ok {
		return nil, fmt.Errorf("no CRD serves %q", plural)
	}
	conv, err := tableconvertor.New(cols)
	if err != nil {
		return nil, err
	}
	return conv.ConvertToTable(ctx, obj, nil)
}

// AddColumn appends a column to t, with a cell per row from cell (rows in
// the order of items).
func AddColumn(t *metav1.Table, col metav1.TableColumnDefinition, cells []any) {
	t.ColumnDefinitions = append(slices.Clone(t.ColumnDefinitions), col)
	for i := range t.Rows {
		var v any
		if i < len(cells) {
			v = cells[i]
		}
		t.Rows[i].Cells = append(t.Rows[i].Cells, v)
	}
}
