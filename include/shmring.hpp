/* SPDX-License-Identifier: MIT */
/*
 * shmring.hpp: a header-only C++17 wrapper over shmring.h with the names of
 * the C++ "Join" framework's shared-memory queues and memory backends, for
 * programs that move from Join (README: "Coming from Join").
 *
 *   shmr::Spsc::Producer producer("channel", 1024, 64);
 *   if (producer.open() == -1)
 *       std::cerr << shmr::lastError().message() << "\n";
 *   producer.timedPush(&msg, std::chrono::milliseconds(100));
 *
 * The namespace is shmr, not shmring: in C++ that name is the C API's
 * struct shmring. Semantics are the C library's (exact capacity, sleeping
 * waits, ...); what Join reports through lastError this wrapper reports the
 * same way: calls return 0 (or a count) or -1, and shmr::lastError() holds
 * the reason as a std::error_code (errno values in the generic category),
 * which compares equal to Join's names (shmr::Errc::TemporaryError, ...) and
 * to std::errc values. Exceptions only where Join throws: the memory
 * constructors (std::system_error) and get() (std::runtime_error when not
 * mapped, std::out_of_range past the end).
 *
 * Thread safety is shmring.h's: an object is one handle, used by one thread
 * at a time; lastError() is per thread.
 */
#ifndef SHMRING_HPP
#define SHMRING_HPP

#include <shmring.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace shmr
{

/* ---- errors ---------------------------------------------------------------- */

/* Join's error names, as conditions a std::error_code compares equal to. */
enum class Errc {
	InvalidParam = 1, /* EINVAL */
	TemporaryError,	  /* EAGAIN: full or empty */
	TimedOut,	  /* ETIMEDOUT */
	InUse,		  /* EBUSY: the role is held */
};

namespace detail
{
class ErrcCategory : public std::error_category
{
    public:
	const char *name() const noexcept override
	{
		return "shmr";
	}

	std::string message(int cond) const override
	{
		switch (static_cast<Errc>(cond)) {
		case Errc::InvalidParam:
			return "invalid parameters";
		case Errc::TemporaryError:
			return "temporary error, try again";
		case Errc::TimedOut:
			return "timed out";
		case Errc::InUse:
			return "already in use";
		}
		return "unknown error";
	}

	bool equivalent(const std::error_code &code, int cond) const noexcept override
	{
		if (code.category() != std::generic_category() &&
		    code.category() != std::system_category())
			return false;
		switch (static_cast<Errc>(cond)) {
		case Errc::InvalidParam:
			return code.value() == EINVAL;
		case Errc::TemporaryError:
			return code.value() == EAGAIN;
		case Errc::TimedOut:
			return code.value() == ETIMEDOUT;
		case Errc::InUse:
			return code.value() == EBUSY;
		}
		return false;
	}
};
} // namespace detail

inline const std::error_category &errcCategory() noexcept
{
	static const detail::ErrcCategory category;
	return category;
}

inline std::error_condition make_error_condition(Errc e) noexcept
{
	return { static_cast<int>(e), errcCategory() };
}

/* The reason of this thread's last failed call (Join's join::lastError). */
inline std::error_code &lastError() noexcept
{
	thread_local std::error_code error;
	return error;
}

namespace detail
{
/* The one way a wrapper call fails: -1 and lastError() from errno. */
inline int fail() noexcept
{
	lastError() = std::error_code(errno, std::generic_category());
	return -1;
}

inline int check(int rc) noexcept
{
	return rc == -1 ? fail() : rc;
}

/* A std::chrono duration as the C API's relative nanoseconds: negative is
 * 0 (ETIMEDOUT unless the call completes at once), too long saturates. */
template <class Rep, class Period>
uint64_t toNs(std::chrono::duration<Rep, Period> d) noexcept
{
	using Ns = std::chrono::duration<long double, std::nano>;
	long double ns = std::chrono::duration_cast<Ns>(d).count();

	if (!(ns > 0))
		return 0;
	if (ns >= static_cast<long double>(UINT64_MAX))
		return UINT64_MAX;
	return static_cast<uint64_t>(ns);
}
} // namespace detail

/* Version of the library this program runs with. */
inline std::string version()
{
	return shmring_version();
}

/* ---- memory (Join LocalMem / ShmMem) --------------------------------------- */

template <shmring_policy P> struct Policy;

namespace detail
{
/* What LocalMem and ShmMem share: one mapped segment, move-only. */
class Mem
{
    public:
	Mem(const Mem &) = delete;
	Mem &operator=(const Mem &) = delete;

	Mem(Mem &&other) noexcept : mem_(std::exchange(other.mem_, nullptr))
	{
	}

	Mem &operator=(Mem &&other) noexcept
	{
		if (this != &other) {
			shmring_mem_close(mem_);
			mem_ = std::exchange(other.mem_, nullptr);
		}
		return *this;
	}

	~Mem()
	{
		shmring_mem_close(mem_);
	}

	/* A pointer OFFSET bytes in. Throws std::runtime_error when nothing is
	 * mapped (moved from), std::out_of_range when OFFSET >= size(). */
	void *get(size_t offset = 0)
	{
		if (!mem_)
			throw std::runtime_error("shmr: memory not mapped");
		void *p = shmring_mem_get(mem_, offset);
		if (!p)
			throw std::out_of_range("shmr: offset out of range");
		return p;
	}

	const void *get(size_t offset = 0) const
	{
		return const_cast<Mem *>(this)->get(offset);
	}

	size_t size() const noexcept
	{
		return shmring_mem_size(mem_);
	}

	bool huge() const noexcept
	{
		return shmring_mem_huge(mem_);
	}

	int mbind(int numaNode) noexcept
	{
		return check(shmring_mem_mbind(mem_, numaNode));
	}

	int mlock() noexcept
	{
		return check(shmring_mem_mlock(mem_));
	}

	struct shmring_mem *handle() const noexcept
	{
		return mem_;
	}

	/* Rings placed in this segment (shmring_memsize + shmring_attach). */
	using Spsc = Policy<SHMRING_SPSC>;
	using Mpsc = Policy<SHMRING_MPSC>;
	using Mpmc = Policy<SHMRING_MPMC>;

    protected:
	explicit Mem(struct shmring_mem *mem, const char *what) : mem_(mem)
	{
		if (!mem_)
			throw std::system_error(errno, std::generic_category(), what);
	}

    private:
	struct shmring_mem *mem_;
};
} // namespace detail

/* Anonymous private memory: huge pages first, normal pages otherwise; the
 * size rounds up to the page. Throws std::system_error if it cannot map. */
class LocalMem : public detail::Mem
{
    public:
	explicit LocalMem(size_t size) : Mem(shmring_mem_local(size), "shmr::LocalMem")
	{
	}
};

/* POSIX shared memory NAME ("/name" or "name"), created or opened and its
 * size checked. Throws std::system_error if it cannot open or map. */
class ShmMem : public detail::Mem
{
    public:
	ShmMem(size_t size, const std::string &name)
	    : Mem(shmring_mem_shm(name.c_str(), size), "shmr::ShmMem")
	{
	}

	/* Removes NAME; 0 when it did not exist either. */
	static int unlink(const std::string &name) noexcept
	{
		return detail::check(shmring_mem_unlink(name.c_str()));
	}
};

/* Join's SharedMemory::unlink: removes a ring's (or any) segment NAME. */
struct SharedMemory {
	static int unlink(const std::string &name) noexcept
	{
		return detail::check(shmring_unlink(name.c_str()));
	}
};

/* ---- rings (Join Spsc/Mpsc/Mpmc ::Producer / ::Consumer / ::Endpoint) ------- */

namespace detail
{
/* One handle on a ring, named or placed in a segment; opened by open(). */
template <shmring_policy P, shmring_role R> class Queue
{
    public:
	/* A ring NAME in shared memory. */
	explicit Queue(std::string name, size_t elementSize = SHMRING_DEFAULT_ELEM_SIZE,
		       size_t capacity = SHMRING_DEFAULT_CAPACITY)
	    : name_(std::move(name)), elementSize_(elementSize), capacity_(capacity)
	{
	}

	/* A ring at OFFSET in MEM (LocalMem for threads, ShmMem for
	 * processes); MEM must outlive the handle. */
	Queue(detail::Mem &mem, size_t offset,
	      size_t elementSize = SHMRING_DEFAULT_ELEM_SIZE,
	      size_t capacity = SHMRING_DEFAULT_CAPACITY)
	    : mem_(&mem), offset_(offset), elementSize_(elementSize), capacity_(capacity)
	{
	}

	Queue(const Queue &) = delete;
	Queue &operator=(const Queue &) = delete;

	Queue(Queue &&o) noexcept
	    : name_(std::move(o.name_)), mem_(o.mem_), offset_(o.offset_),
	      elementSize_(o.elementSize_), capacity_(o.capacity_),
	      ring_(std::exchange(o.ring_, nullptr))
	{
	}

	Queue &operator=(Queue &&o) noexcept
	{
		if (this != &o) {
			close();
			name_ = std::move(o.name_);
			mem_ = o.mem_;
			offset_ = o.offset_;
			elementSize_ = o.elementSize_;
			capacity_ = o.capacity_;
			ring_ = std::exchange(o.ring_, nullptr);
		}
		return *this;
	}

	~Queue()
	{
		close();
	}

	/* Opens (creates if needed) the ring and takes the role. -1 with
	 * lastError(): InvalidParam (parameters differ from the ring's),
	 * InUse (SPSC second producer, SPSC/MPSC second consumer), ... */
	int open(const struct shmring_opts *opts = nullptr) noexcept
	{
		if (ring_) {
			errno = EINVAL; /* Join: already opened */
			return detail::fail();
		}
		if (mem_)
			ring_ = shmring_attach(mem_->handle(), offset_, P, R,
					       elementSize_, capacity_, opts);
		else if (R == SHMRING_PRODUCER)
			ring_ = shmring_producer(P, name_.c_str(), elementSize_,
						 capacity_, opts);
		else
			ring_ = shmring_consumer(P, name_.c_str(), elementSize_,
						 capacity_, opts);
		return ring_ ? 0 : detail::fail();
	}

	/* Releases the role; never unlinks. */
	void close() noexcept
	{
		shmring_close(std::exchange(ring_, nullptr));
	}

	bool opened() const noexcept
	{
		return ring_ != nullptr;
	}

	uint64_t available() const noexcept
	{
		return shmring_available(ring_);
	}

	uint64_t pending() const noexcept
	{
		return shmring_pending(ring_);
	}

	bool full() const noexcept
	{
		return shmring_full(ring_);
	}

	bool empty() const noexcept
	{
		return shmring_empty(ring_);
	}

	size_t elementSize() const noexcept
	{
		return elementSize_;
	}

	size_t capacity() const noexcept
	{
		return capacity_;
	}

	/* The pollable fd (shmring_fd), owned by the handle. */
	int fd() noexcept
	{
		return detail::check(shmring_fd(ring_));
	}

	struct shmring *handle() const noexcept
	{
		return ring_;
	}

    protected:
	std::string name_;
	detail::Mem *mem_ = nullptr;
	size_t offset_ = 0, elementSize_, capacity_;
	struct shmring *ring_ = nullptr;
};
} // namespace detail

template <shmring_policy P> struct Policy {
	/* Bytes a ring of this policy needs in a LocalMem/ShmMem. */
	static size_t memsize(size_t elementSize = SHMRING_DEFAULT_ELEM_SIZE,
			      size_t capacity = SHMRING_DEFAULT_CAPACITY) noexcept
	{
		size_t n = shmring_memsize(P, elementSize, capacity);

		if (!n)
			detail::fail();
		return n;
	}

	class Producer : public detail::Queue<P, SHMRING_PRODUCER>
	{
	    public:
		using detail::Queue<P, SHMRING_PRODUCER>::Queue;

		/* EAGAIN (TemporaryError) when full. */
		int tryPush(const void *element) noexcept
		{
			return detail::check(shmring_try_push(this->ring_, element));
		}

		/* Sleeps while full. */
		int push(const void *element) noexcept
		{
			return detail::check(shmring_push(this->ring_, element));
		}

		/* ETIMEDOUT (TimedOut) when TIMEOUT passed while full. */
		template <class Rep, class Period>
		int timedPush(const void *element,
			      std::chrono::duration<Rep, Period> timeout) noexcept
		{
			return detail::check(shmring_timed_push(this->ring_, element,
								detail::toNs(timeout)));
		}
	};

	class Consumer : public detail::Queue<P, SHMRING_CONSUMER>
	{
	    public:
		using detail::Queue<P, SHMRING_CONSUMER>::Queue;

		/* EAGAIN (TemporaryError) when empty. */
		int tryPop(void *element) noexcept
		{
			return detail::check(shmring_try_pop(this->ring_, element));
		}

		/* Sleeps while empty. */
		int pop(void *element) noexcept
		{
			return detail::check(shmring_pop(this->ring_, element));
		}

		/* ETIMEDOUT (TimedOut) when TIMEOUT passed while empty. */
		template <class Rep, class Period>
		int timedPop(void *element,
			     std::chrono::duration<Rep, Period> timeout) noexcept
		{
			return detail::check(shmring_timed_pop(this->ring_, element,
							       detail::toNs(timeout)));
		}
	};

	/* Two rings, NAME_AB and NAME_BA: side A sends on NAME_AB. */
	class Endpoint
	{
	    public:
		enum class Side { A = SHMRING_SIDE_A, B = SHMRING_SIDE_B };

		Endpoint(Side side, std::string name,
			 size_t elementSize = SHMRING_DEFAULT_ELEM_SIZE,
			 size_t capacity = SHMRING_DEFAULT_CAPACITY)
		    : side_(side), name_(std::move(name)), elementSize_(elementSize),
		      capacity_(capacity)
		{
		}

		Endpoint(const Endpoint &) = delete;
		Endpoint &operator=(const Endpoint &) = delete;

		Endpoint(Endpoint &&o) noexcept
		    : side_(o.side_), name_(std::move(o.name_)),
		      elementSize_(o.elementSize_), capacity_(o.capacity_),
		      ep_(std::exchange(o.ep_, nullptr))
		{
		}

		Endpoint &operator=(Endpoint &&o) noexcept
		{
			if (this != &o) {
				close();
				side_ = o.side_;
				name_ = std::move(o.name_);
				elementSize_ = o.elementSize_;
				capacity_ = o.capacity_;
				ep_ = std::exchange(o.ep_, nullptr);
			}
			return *this;
		}

		~Endpoint()
		{
			close();
		}

		int open(const struct shmring_opts *opts = nullptr) noexcept
		{
			if (ep_) {
				errno = EINVAL;
				return detail::fail();
			}
			ep_ = shmring_endpoint_open(
				P, static_cast<enum shmring_side>(side_), name_.c_str(),
				elementSize_, capacity_, opts);
			return ep_ ? 0 : detail::fail();
		}

		void close() noexcept
		{
			shmring_endpoint_close(std::exchange(ep_, nullptr));
		}

		bool opened() const noexcept
		{
			return ep_ != nullptr;
		}

		int send(const void *message) noexcept
		{
			return detail::check(shmring_send(ep_, message));
		}

		int trySend(const void *message) noexcept
		{
			return detail::check(shmring_try_send(ep_, message));
		}

		template <class Rep, class Period>
		int timedSend(const void *message,
			      std::chrono::duration<Rep, Period> timeout) noexcept
		{
			return detail::check(
				shmring_timed_send(ep_, message, detail::toNs(timeout)));
		}

		int receive(void *message) noexcept
		{
			return detail::check(shmring_receive(ep_, message));
		}

		int tryReceive(void *message) noexcept
		{
			return detail::check(shmring_try_receive(ep_, message));
		}

		template <class Rep, class Period>
		int timedReceive(void *message,
				 std::chrono::duration<Rep, Period> timeout) noexcept
		{
			return detail::check(shmring_timed_receive(
				ep_, message, detail::toNs(timeout)));
		}

		/* Free slots to send into, messages waiting to be received. */
		uint64_t available() const noexcept
		{
			return shmring_endpoint_available(ep_);
		}

		uint64_t pending() const noexcept
		{
			return shmring_endpoint_pending(ep_);
		}

		/* Readable when tryReceive would succeed. */
		int fd() noexcept
		{
			return detail::check(shmring_endpoint_fd(ep_));
		}

		struct shmring_endpoint *handle() const noexcept
		{
			return ep_;
		}

		/* Removes NAME_AB and NAME_BA; 0 when they did not exist. */
		static int unlink(const std::string &name) noexcept
		{
			return detail::check(shmring_endpoint_unlink(name.c_str()));
		}

	    private:
		Side side_;
		std::string name_;
		size_t elementSize_, capacity_;
		struct shmring_endpoint *ep_ = nullptr;
	};
};

using Spsc = Policy<SHMRING_SPSC>;
using Mpsc = Policy<SHMRING_MPSC>;
using Mpmc = Policy<SHMRING_MPMC>;

} // namespace shmr

namespace std
{
template <> struct is_error_condition_enum<shmr::Errc> : true_type {
};
} // namespace std

#endif /* SHMRING_HPP */
