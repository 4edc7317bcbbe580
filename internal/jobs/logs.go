package jobs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// LogOptions choose what Logs writes.
type LogOptions struct {
	// Task is the one task (completion index) to show; all tasks, in task
	// order, when nil.
	Task *int
	// Follow streams the output as it is written, until the tasks end (or
	// the context does), waiting for tasks that have not started.
	Follow bool
	// Tail is how many of the last lines of each task to show; all when nil.
	Tail *int64
	// Prefix starts each line with "[task N] ".
	Prefix bool
}

// pollInterval is how often a follow looks for a task's pod to start.
const pollInterval = 500 * time.Millisecond

// ContainerName is the name of a job's one container.
const ContainerName = "task"

// Logs writes a job's output (its pods' logs) to w: every task in task
// order, or o.Task alone. A task whose pod is gone or not started shows
// nothing, unless following, which waits for it. A writer with a Flush()
// method is flushed after each line.
func (c *Client) Logs(ctx context.Context, ns, name string, o LogOptions, w io.Writer) error {
	if c.Clientset == nil {
		return errors.New("jobs.Client: Logs needs a Clientset")
	}
	job, err := c.job(ctx, ns, name)
	if err != nil {
		return err
	}
	n := 1
	if job.Spec.Completions != nil {
		n = int(*job.Spec.Completions)
	}
	tasks := make([]int, 0, n)
	if o.Task != nil {
		if *o.Task < 0 || *o.Task >= n {
			return &FieldError{Field: "task", Message: fmt.Sprintf("%d is not a task of job %s: its tasks are 0 to %d", *o.Task, name, n-1)}
		}
		tasks = append(tasks, *o.Task)
	} else {
		for i := range n {
			tasks = append(tasks, i)
		}
	}
	if o.Tail != nil && *o.Tail < 0 {
		return &FieldError{Field: "tail", Message: fmt.Sprintf("%d is negative: give the number of lines to show", *o.Tail)}
	}
	for _, i := range tasks {
		if err := c.taskLogs(ctx, job, i, o, w); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) taskLogs(ctx context.Context, job *batchv1.Job, task int, o LogOptions, w io.Writer) error {
	for {
		pods, err := c.pods(ctx, job.Namespace, client.MatchingLabels{labelControllerUID: string(job.UID)})
		if err != nil {
			return err
		}
		st := StateOf(job, pods)
		var pod *corev1.Pod
		if t := st.Tasks[task]; t.Pod != "" {
			for i := range pods {
				if pods[i].Name == t.Pod {
					pod = &pods[i]
				}
			}
		}
		started := pod != nil && (pod.Status.Phase != corev1.PodPending || containerStarted(pod))
		if started {
			err := c.stream(ctx, pod, task, o, w)
			if err == nil || !o.Follow || !apierrors.IsBadRequest(err) {
				if apierrors.IsBadRequest(err) || apierrors.IsNotFound(err) {
					return nil // not started yet, or gone: nothing to show
				}
				return err
			}
		}
		if !o.Follow || ended(st.State) || (pod == nil && jobEnded(job)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pollInterval):
		}
		fresh := &batchv1.Job{}
		if err := c.Kube.Get(ctx, client.ObjectKeyFromObject(job), fresh); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}
		job = fresh
	}
}

func ended(s State) bool { return s == Succeeded || s == Failed || s == Cancelled }

func jobEnded(job *batchv1.Job) bool { return ended(StateOf(job, nil).State) }

func containerStarted(p *corev1.Pod) bool {
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running != nil || cs.State.Terminated != nil {
			return true
		}
	}
	return false
}

type flusher interface{ Flush() }

// stream copies one pod's log to w, line by line.
func (c *Client) stream(ctx context.Context, pod *corev1.Pod, task int, o LogOptions, w io.Writer) error {
	rc, err := c.Clientset.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{
		Container: ContainerName, Follow: o.Follow, TailLines: o.Tail,
	}).Stream(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = rc.Close() }()
	prefix := ""
	if o.Prefix {
		prefix = "[task " + strconv.Itoa(task) + "] "
	}
	f, _ := w.(flusher)
	r := bufio.NewReaderSize(rc, 64<<10)
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			if _, werr := io.WriteString(w, prefix+line); werr != nil {
				return werr
			}
			if f != nil {
				f.Flush()
			}
		}
		switch {
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read the log of pod %s: %w", pod.Name, err)
		}
	}
}
