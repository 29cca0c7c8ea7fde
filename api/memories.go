package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/claude-ops/claude-ops/store"
)

// MemoryStore lists and deletes memories (*store.Store).
type MemoryStore interface {
	ListMemories(ctx context.Context, q store.MemoryQuery) ([]store.Memory, error)
	DeleteMemory(ctx context.Context, id int64) error
}

// maxMemoryList bounds GET /api/v1/memories.
const maxMemoryList = 1000

// RegisterMemories adds the memories routes (package memory) to mux:
//
//	GET    /api/v1/memories?service=&limit=   best first (score, then newest)
//	DELETE /api/v1/memories/{id}              204; 404 if there is none
func RegisterMemories(mux *http.ServeMux, st MemoryStore, logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := memoriesAPI{st: st, log: logger, now: time.Now}
	mux.HandleFunc("GET /api/v1/memories", h.list)
	mux.HandleFunc("DELETE /api/v1/memories/{id}", h.delete)
}

type memoriesAPI struct {
	st  MemoryStore
	log *slog.Logger
	now func() time.Time
}

// memoryView is a memory as the API serves it: with its age.
type memoryView struct {
	store.Memory
	AgeSeconds int64 `json:"age_seconds"`
}

func (a memoriesAPI) list(w http.ResponseWriter, r *http.Request) {
	q := store.MemoryQuery{Service: r.URL.Query().Get("service"), Limit: maxMemoryList}
	if len(q.Service) > 200 {
		fail(w, http.StatusBadRequest, "service is too long")
		return
	}
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxMemoryList {
			fail(w, http.StatusBadRequest, "limit must be a number from 1 to %d", maxMemoryList)
			return
		}
		q.Limit = n
	}
	ms, err := a.st.ListMemories(r.Context(), q)
	if err != nil {
		a.log.Error("list memories", "err", err)
		fail(w, http.StatusInternalServerError, "cannot list memories")
		return
	}
	now := a.now()
	out := make([]memoryView, 0, len(ms))
	for _, m := range ms {
		out = append(out, memoryView{Memory: m, AgeSeconds: int64(now.Sub(m.Created) / time.Second)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"memories": out})
}

func (a memoriesAPI) delete(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		fail(w, http.StatusBadRequest, "invalid memory id")
		return
	}
	switch err := a.st.DeleteMemory(r.Context(), id); {
	case errors.Is(err, store.ErrNotFound):
		fail(w, http.StatusNotFound, "no memory %d", id)
	case err != nil:
		a.log.Error("delete memory", "id", id, "err", err)
		fail(w, http.StatusInternalServerError, "cannot delete memory")
	default:
		a.log.Info("memory deleted", "id", id)
		w.WriteHeader(http.StatusNoContent)
	}
}
